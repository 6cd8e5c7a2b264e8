"""The figures a DPO is asked for, counted from the audit log, the register and the catalog
over one period: searches and verifications by purpose, role and month, matches returned,
requests by kind with their response times and the overdue ones, erasures, opt-outs,
retention runs, and ingest runs per source."""

from __future__ import annotations

import statistics as stats
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..purposes import matching_sources, normalize
from ..requests import KINDS, RequestView, parse_time
from .parts import ReportParts

if TYPE_CHECKING:
    from ..audit_chain import AuditEntry

UNDECLARED = "(no source declares this purpose)"


def role_of(actor: str, roles: Mapping[str, str]) -> str:
    """The role behind an audit actor: an API key's role, a subject token, or the CLI."""
    if actor.startswith("apikey:"):
        return roles.get(actor.split(":", 2)[1], "api key (unknown)")
    if actor.startswith("subject-token:"):
        return "subject"
    return "cli"


def in_period(at: str, start: datetime | None, end: datetime | None) -> bool:
    when = parse_time(at)
    return (start is None or when >= start) and (end is None or when < end)


def _matches(entry: AuditEntry) -> Counter:
    out: Counter = Counter()
    for face in entry.outputs.get("faces", []) or []:
        for m in face or []:
            out[str(m.get("decision", "?"))] += 1
    return out


def _lookups(entries: list[AuditEntry], roles: Mapping[str, str], sources: list) -> dict:
    by_purpose: Counter = Counter()
    by_role: Counter = Counter()
    by_month: Counter = Counter()
    by_declared: dict[str, list[str]] = defaultdict(list)
    matches: Counter = Counter()
    flagged = []
    for e in entries:
        by_purpose[e.purpose or ""] += 1
        by_role[role_of(e.actor, roles)] += 1
        by_month[e.at[:7]] += 1
        matches += _matches(e)
        found = matching_sources(e.purpose, sources)
        if found:
            declared = next(s.purpose for s in sources if s.name == found[0])
            by_declared[declared].append(e.purpose or "")
        else:
            by_declared[UNDECLARED].append(e.purpose or "")
            flagged.append({"seq": e.seq, "at": e.at, "purpose": e.purpose, "case": e.case,
                            "role": role_of(e.actor, roles)})
    declared_groups = {}
    for declared, purposes in sorted(by_declared.items()):
        declared_groups[declared] = {
            "count": len(purposes),
            "sources": sorted(s.name for s in sources
                              if normalize(s.purpose) == normalize(declared)),
        }
    return {
        "total": len(entries),
        "by_purpose": dict(sorted(by_purpose.items())),
        "by_role": dict(sorted(by_role.items())),
        "by_month": dict(sorted(by_month.items())),
        "by_declared_purpose": declared_groups,
        "undeclared_purpose": flagged,
        "results": dict(sorted(matches.items())),
    }


def request_stats(views: Iterable[RequestView]) -> dict[str, Any]:
    views = list(views)
    by_kind = {}
    for kind in KINDS:
        mine = [v for v in views if v.request.kind == kind]
        days = [v.response_days for v in mine if v.response_days is not None]
        by_kind[kind] = {
            "received": len(mine),
            "done": sum(1 for v in mine if v.request.state == "done"),
            "refused": sum(1 for v in mine if v.request.state == "refused"),
            "open": sum(1 for v in mine if v.open),
            "extended": sum(1 for v in mine if v.request.extended_due_at),
            "late": sum(1 for v in mine if v.late),
            "overdue": sum(1 for v in mine if v.overdue),
            "median_response_days": round(stats.median(days), 2) if days else None,
            "worst_response_days": max(days) if days else None,
        }
    return {
        "total": len(views),
        "by_kind": by_kind,
        "by_month": dict(sorted(Counter(v.request.received_at[:7] for v in views).items())),
        "overdue": [{"id": v.request.id, "kind": v.request.kind,
                     "received_at": v.request.received_at, "due": v.due.isoformat(),
                     "state": v.request.state} for v in views if v.overdue],
        "late": [{"id": v.request.id, "kind": v.request.kind,
                  "response_days": v.response_days} for v in views if v.late],
        "response_times": [{"id": v.request.id, "kind": v.request.kind,
                            "response_days": v.response_days,
                            "allowed_days": round((v.due - parse_time(v.request.received_at))
                                                  .total_seconds() / 86400, 2)}
                           for v in views if v.response_days is not None],
    }


def compute_statistics(store: ReportParts, roles: Mapping[str, str], views: list[RequestView],
                       start: datetime | None, end: datetime | None) -> dict[str, Any]:
    sources = store.sources()
    period = [e for e in store.audit.entries() if in_period(e.at, start, end)]
    by_action: dict[str, list[AuditEntry]] = defaultdict(list)
    for e in period:
        by_action[e.action].append(e)
    erasures = by_action["erase"]
    reasons: Counter = Counter(str(e.inputs.get("reason", "")) for e in erasures)
    runs = [r for r in store.catalog.runs(limit=1_000_000)
            if in_period(r.started_at, start, end)]
    ingest: dict[str, dict[str, int]] = {}
    for r in runs:
        agg = ingest.setdefault(r.source, {"runs": 0, "photos": 0, "faces": 0, "errors": 0,
                                           "duplicates": 0, "blocked": 0, "crashed": 0})
        agg["runs"] += 1
        for field in ("photos", "faces", "errors", "duplicates", "blocked"):
            agg[field] += int(getattr(r, field))
        agg["crashed"] += int(r.status == "crashed")
    return {
        "period": {"from": start.isoformat() if start else None,
                   "to": end.isoformat() if end else None},
        "searches": _lookups(by_action["search"], roles, sources),
        "verifications": _lookups(by_action["verify"], roles, sources),
        "requests": request_stats(views),
        "erasures": {
            "count": len(erasures),
            "faces": sum(len(e.outputs.get("faces", [])) for e in erasures),
            "photos": sum(len(e.outputs.get("photos", [])) for e in erasures),
            "by_reason": dict(sorted(reasons.items())),
        },
        "opt_outs": len(by_action["optout_add"]),
        "retention_runs": len(by_action["retention_run"]),
        "ingest": dict(sorted(ingest.items())),
    }
