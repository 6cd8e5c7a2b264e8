"""The report's HTML pages: plain HTML with inline SVG charts drawn here, on the server.
No script, no external asset (the pages open from a folder, offline, under any CSP)."""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}.bad{color:#a4161a;font-weight:700}figure{margin:1em 0}
figcaption{font-weight:600}"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def bar_chart(title: str, data: dict[str, float], limit: float | None = None,
              limit_label: str = "") -> str:
    """A horizontal bar chart as SVG; ``limit`` draws a vertical line (a deadline)."""
    if not data:
        return f"<figure><figcaption>{_e(title)}</figcaption><p>No data.</p></figure>"
    width, left, row = 640, 260, 22
    top = max([*data.values(), limit or 0, 1e-9])
    scale = (width - left - 40) / top
    bars = []
    for i, (label, value) in enumerate(data.items()):
        y = i * row + 4
        w = max(0.0, float(value)) * scale
        over = limit is not None and value > limit
        fill = "#a4161a" if over else "#2f6690"
        bars.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
                    f"{_e(label[:40])}</text><rect x=\"{left}\" y=\"{y}\" width=\"{w:.1f}\" "
                    f'height="{row - 6}" fill="{fill}"/><text x="{left + w + 4:.1f}" '
                    f'y="{y + 14}" font-size="12">{_e(value)}</text>')
    height = len(data) * row + 10
    if limit is not None:
        x = left + limit * scale
        bars.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" stroke="#a4161a" '
                    f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{height - 2}" '
                    f'font-size="11" fill="#a4161a">{_e(limit_label)}</text>')
    return (f'<figure><figcaption>{_e(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg"'
            f' width="{width}" height="{height}" role="img" aria-label="{_e(title)}">'
            f"{''.join(bars)}</svg></figure>")


def _table(headers: list[str], rows: list[list[Any]], bad_col: int | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=bad" if bad_col == i and c else ""}>{_e(c)}</td>'
                         for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}'
            f"</title><style>{STYLE}</style></head><body>{body}</body></html>\n")


def records_html(records: dict[str, Any]) -> str:
    rows = [[a["source"], a["controller"], a["purpose"], a["lawful_basis_text"],
             a["art9_condition_text"], f"{a['retention_days']} days", a["minors_policy_text"],
             f"{a['held']['photos']} photos, {a['held']['faces']} faces"]
            for a in records["activities"]]
    recips = [[r["role"], r["active_keys"], ", ".join(r["key_names"]), r["receives"]]
              for r in records["recipients"]]
    safe = [[k, v] for k, v in records["safeguards"].items()]
    body = (f"<h1>Records of processing (GDPR Art. 30)</h1><p>Store {_e(records['store_id'])}"
            f", model pack {_e(records['model_pack'])}.</p><h2>Activities (one per source)</h2>"
            + _table(["Source", "Controller", "Purpose", "Art. 6 basis", "Art. 9 condition",
                      "Retention", "Minors", "Held"], rows)
            + "<h2>Categories of data</h2><ul>"
            + "".join(f"<li>{_e(c)}</li>" for c in
                      (records["activities"][0]["categories_of_data"]
                       if records["activities"] else []))
            + "</ul><h2>Recipients</h2>"
            + _table(["Role", "Active keys", "Key names", "Receives"], recips)
            + "<h2>Safeguards</h2>" + _table(["Measure", "State"], safe)
            + f"<h2>Transfers outside the EEA</h2><p>{_e(records['transfers'])}</p>")
    return _page("Records of processing", body)


def index_html(records: dict[str, Any], stats: dict[str, Any], verification: dict) -> str:
    s, r = stats["searches"], stats["requests"]
    period = f"{stats['period']['from'] or 'start'} to {stats['period']['to'] or 'now'}"
    ok = verification["ok"]
    times = {f"{t['id']} ({t['kind']})": t["response_days"] for t in r["response_times"]}
    allowed = max((t["allowed_days"] for t in r["response_times"]), default=None)
    base_allowed = min((t["allowed_days"] for t in r["response_times"]), default=None)
    overdue = [[o["id"], o["kind"], o["received_at"][:10], o["due"][:10], o["state"]]
               for o in r["overdue"]]
    flagged = [[f["seq"], f["at"][:19], f["purpose"], f["case"], f["role"]]
               for f in s["undeclared_purpose"]]
    kinds = [[k, v["received"], v["done"], v["refused"], v["open"], v["late"], v["overdue"],
              v["median_response_days"], v["worst_response_days"]]
             for k, v in r["by_kind"].items()]
    ingest = [[name, v["runs"], v["photos"], v["faces"], v["errors"], v["crashed"]]
              for name, v in stats["ingest"].items()]
    body = (
        f"<h1>Accountability report</h1><p>Store {_e(records['store_id'])}, period {_e(period)}."
        f"</p><p>Audit log: <strong class=\"{'' if ok else 'bad'}\">"
        f"{'intact' if ok else 'NOT INTACT: ' + _e(verification['reason'])}</strong> "
        f"({verification['entries']} entries, head {verification['head_seq']}).</p>"
        "<p>Files: <a href=\"records_of_processing.html\">records of processing</a> "
        "(<a href=\"records_of_processing.json\">JSON</a>), <a href=\"dpia.md\">DPIA</a>, "
        "<a href=\"statistics.json\">statistics</a>, <a href=\"audit_verification.json\">audit "
        "verification</a>, <a href=\"audit.jsonl\">signed audit export</a>.</p>"
        "<h2>Rights requests</h2>"
        + bar_chart("Requests received per month", r["by_month"])
        + bar_chart("Response time (days) against the deadline", times, base_allowed,
                    f"{base_allowed:g} days" if base_allowed else "")
        + (f"<p>Extended requests are allowed up to {allowed:g} days.</p>"
           if allowed and allowed != base_allowed else "")
        + _table(["Kind", "Received", "Done", "Refused", "Open", "Late", "Overdue",
                  "Median days", "Worst days"], kinds)
        + "<h3>Overdue</h3>" + (_table(["Request", "Kind", "Received", "Due", "State"], overdue)
                                if overdue else "<p>None.</p>")
        + "<h2>Searches</h2>"
        + bar_chart("Searches by declared purpose of the sources",
                    {k: v["count"] for k, v in s["by_declared_purpose"].items()})
        + bar_chart("Searches by role", s["by_role"])
        + bar_chart("Searches per month", s["by_month"])
        + f"<p>Results returned: {_e(s['results'])}. Verifications: "
          f"{stats['verifications']['total']}.</p>"
        + "<h3 class=bad>Searches whose purpose no source declares</h3>"
        + (_table(["Entry", "When", "Purpose", "Case", "Role"], flagged, bad_col=2)
           if flagged else "<p>None.</p>")
        + f"<h2>Erasures, opt-outs, retention</h2><p>{stats['erasures']['count']} erasures "
          f"({stats['erasures']['faces']} faces, {stats['erasures']['photos']} photos), "
          f"{stats['opt_outs']} opt-outs, {stats['retention_runs']} retention runs.</p>"
        + "<h2>Ingest runs per source</h2>"
        + _table(["Source", "Runs", "Photos", "Faces", "Errors", "Crashed"], ingest))
    return _page("Accountability report", body)
