"""A poor probe says so: a probe face of low quality is marked uncertain, with a warning.

A probe face whose quality (:mod:`faceledger.models.quality`) is below
:data:`POOR_PROBE_QUALITY` (a face of about 24 px or less, a blurred or strongly turned one)
is marked ``uncertain`` and its results carry a warning. What such a probe gets wrong was
measured (``faceledger bench poor-probe``, docs/benchmarks.md, "Poor probes"): on LFW, probes
degraded to 24 px or 16 px faces or blurred do *not* meet strangers above the pack's thresholds
more often than good probes (their impostor similarities shrink towards 0 too), but they miss
their own matches far more often (true-match rate 98 % for good probes, 78 % for 16 px faces,
37 % for a blur of sigma 5). So the warning says that a "no match" from such a probe is weak
evidence, and the thresholds are raised by :data:`POOR_PROBE_MARGIN`: the measured calibration,
``max(0, threshold at the pack's FAR among flagged probes' impostors - pack threshold)``, which
is 0 for the default pack (flagged impostors reach FAR 1e-3 at 0.314-0.346, the pack's threshold
is 0.358). A pack whose poor probes do meet strangers more often gets its own margin.
"""

from __future__ import annotations

from dataclasses import replace

from .decisions import OperatingPoint

POOR_PROBE_QUALITY = 0.35
POOR_PROBE_MARGIN = 0.0


def is_poor(quality: float) -> bool:
    return quality < POOR_PROBE_QUALITY


def point_for_probe(point: OperatingPoint, quality: float,
                    margin: float = POOR_PROBE_MARGIN) -> tuple[OperatingPoint, str]:
    """The operating point a probe face of ``quality`` is decided at, and a warning ("" for
    a good probe). ``margin`` is added to both thresholds of a poor probe."""
    if not is_poor(quality):
        return point, ""
    stricter = replace(point, match_threshold=point.match_threshold + margin,
                       possible_threshold=point.possible_threshold + margin)
    warning = (f"poor probe (quality {quality:.2f}, under {POOR_PROBE_QUALITY}: a small, "
               "blurred or turned face): results are uncertain. Such probes miss many of "
               "their true matches, so a missing match does not mean the person is not in "
               "the gallery; a larger, sharper, frontal photo gives a reliable search.")
    if margin > 0:
        warning += (f" Matches are decided at similarity >= {stricter.match_threshold:.3f} "
                    f"instead of {point.match_threshold:.3f}.")
    return stricter, warning
