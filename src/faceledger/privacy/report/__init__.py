"""``faceledger report regulator``: one folder a DPO can hand over (issue 15).

records_of_processing.json/.html (Art. 30), dpia.md (Art. 35, facts filled, judgement
marked), statistics.json, audit_verification.json (a full verify with the head anchor),
audit.jsonl (the signed export of the period) and index.html (charts as inline SVG).
Nothing in it holds a template, a probe or a photo: only names, counts, ids and hashes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from ...errors import InvalidRequestError
from ...store.files import private_dir
from ..requests import RightsRequests
from .dpia import render_dpia
from .html import index_html, records_html
from .parts import ReportParts
from .records import KeyFact, records_of_processing
from .statistics import compute_statistics, in_period

FILES = ("records_of_processing.json", "records_of_processing.html", "dpia.md",
         "statistics.json", "audit_verification.json", "audit.jsonl", "index.html")

__all__ = ["FILES", "KeyFact", "write_regulator_report"]


def _period_seqs(store: ReportParts, start: datetime | None,
                 end: datetime | None) -> tuple[int, int]:
    """(last seq before the period, last seq inside it) for the export."""
    before, last = 0, 0
    for e in store.audit.entries():
        if start is not None and e.at and not in_period(e.at, start, None):
            before = e.seq
        if in_period(e.at, None, end):
            last = e.seq
    return before, max(last, before)


def write_regulator_report(store: ReportParts, out: Path | str, keys: list[KeyFact],
                           start: datetime | None = None, end: datetime | None = None,
                           register: RightsRequests | None = None,
                           actor: str = "cli") -> dict[str, Any]:
    """Write the report into ``out`` (created 0700; existing report files are replaced);
    returns the statistics."""
    if start is not None and end is not None and end <= start:
        raise InvalidRequestError("the report's --to must be after --from")
    out = private_dir(Path(out))
    register = register or RightsRequests.of(store)
    roles = {k.id: k.role for k in keys}
    verification = asdict(store.audit.verify())
    records = records_of_processing(store, keys)
    views = [v for v in register.list() if in_period(v.request.received_at, start, end)]
    stats = compute_statistics(store, roles, views, start, end)
    before, last = _period_seqs(store, start, end)
    with open(out / "audit.jsonl", "w", encoding="utf-8") as fh:
        exported = store.audit.export_jsonl(fh, since_seq=before, until_seq=last)
    stats["audit_export"] = {"since_seq": before, "until_seq": last, "entries": exported}

    def dump(name: str, data: Any) -> None:
        (out / name).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                                encoding="utf-8")

    dump("records_of_processing.json", records)
    dump("statistics.json", stats)
    dump("audit_verification.json", verification)
    (out / "records_of_processing.html").write_text(records_html(records), encoding="utf-8")
    (out / "dpia.md").write_text(render_dpia(records, stats, store.settings), encoding="utf-8")
    (out / "index.html").write_text(index_html(records, stats, verification), encoding="utf-8")
    store.record("report_regulator", actor, purpose="accountability report",
                 inputs={"from": stats["period"]["from"], "to": stats["period"]["to"]},
                 outputs={"files": list(FILES), "audit_until_seq": last})
    return stats
