"""Model packs: which files, which licence, which thresholds, and how to build them.

A pack is a detector with five landmarks, an alignment, and a recognizer. ``load_pack``
verifies every file's sha256 before anything is loaded; a research-licensed pack is only
loaded when the caller acknowledges its licence explicitly.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LicenceNotAcknowledged, ModelError
from .base import Detector, Recognizer
from .files import ModelFile, file_status, verify_file

if TYPE_CHECKING:
    from .analyzer import FaceAnalyzer

Builder = Callable[[dict[str, Path], "int | None"], tuple[Detector, Recognizer]]


@dataclass(frozen=True)
class PackSpec:
    name: str
    description: str
    licence: str
    files: dict[str, ModelFile]
    embedding_size: int
    input_spec: str
    # cosine-similarity thresholds keyed by the false-accept rate they give on calibration data
    thresholds: dict[float, float]
    build: Builder = field(repr=False, compare=False)
    research: bool = False
    needs_models_dir: bool = True
    flip: bool = True
    calibration: str = ""
    # Python modules the pack imports, with the install hint shown when one is missing
    python_modules: dict[str, str] = field(default_factory=dict)

    def missing_modules(self) -> list[str]:
        return [
            f"{module} ({hint})" for module, hint in self.python_modules.items()
            if importlib.util.find_spec(module) is None
        ]

    def threshold(self, far: float) -> float:
        """The threshold for ``far``; the nearest calibrated rate at or below it."""
        if far in self.thresholds:
            return self.thresholds[far]
        stricter = [f for f in self.thresholds if f <= far]
        if not stricter:
            raise ModelError(
                f"pack {self.name} has no threshold for FAR {far:g}; "
                f"calibrated: {', '.join(f'{f:g}' for f in sorted(self.thresholds))}"
            )
        return self.thresholds[max(stricter)]


@dataclass
class FileReport:
    role: str
    path: str
    sha256: str
    status: str


_PACKS: dict[str, PackSpec] = {}


def register_pack(spec: PackSpec) -> PackSpec:
    _PACKS[spec.name] = spec
    return spec


def available_packs() -> list[PackSpec]:
    from . import packs  # noqa: F401  (registers the built-in packs)

    return list(_PACKS.values())


def get_pack(name: str) -> PackSpec:
    from . import packs  # noqa: F401

    try:
        return _PACKS[name]
    except KeyError:
        known = ", ".join(sorted(_PACKS))
        raise ModelError(f"unknown model pack {name!r}; known packs: {known}") from None


def pack_file_reports(spec: PackSpec, models_dir: Path) -> list[FileReport]:
    return [
        FileReport(role, f.path, f.sha256, file_status(models_dir, f))
        for role, f in spec.files.items()
    ]


def load_pack(
    name: str,
    models_dir: Path,
    accept_research_licence: bool = False,
    threads: int | None = None,
) -> FaceAnalyzer:
    from .analyzer import FaceAnalyzer

    spec = get_pack(name)
    if spec.research and not accept_research_licence:
        raise LicenceNotAcknowledged(
            f"model pack {name!r} is under a non-commercial research licence ({spec.licence}). "
            "Acknowledge it explicitly (--accept-research-licence or "
            "FACELEDGER_ACCEPT_RESEARCH_LICENCE=1) to use it."
        )
    missing = spec.missing_modules()
    if missing:
        raise ModelError(f"model pack {name!r} needs Python packages: {', '.join(missing)}")
    paths = {role: verify_file(models_dir, f) for role, f in spec.files.items()}
    detector, recognizer = spec.build(paths, threads)
    return FaceAnalyzer(spec, detector, recognizer)


__all__ = [
    "PackSpec",
    "FileReport",
    "register_pack",
    "available_packs",
    "get_pack",
    "load_pack",
    "pack_file_reports",
]
