"""The DPIA template of ``docs/privacy.md`` (GDPR Art. 35), filled from the store's facts.

Every field of the template is here, in its order. Where the store knows the answer it is
filled in; where the answer is the operator's judgement (necessity, risks, sign-off) the
field is marked ``[OPERATOR: ...]`` with the facts that help, never guessed.
"""

from __future__ import annotations

from typing import Any

JUDGE = "[OPERATOR: to be assessed and written by the controller]"


def _j(hint: str = "") -> str:
    return f"[OPERATOR: {hint}]" if hint else JUDGE


def render_dpia(records: dict[str, Any], stats: dict[str, Any], settings: Any) -> str:
    acts = records["activities"]
    safe = records["safeguards"]

    def per_source(fn) -> str:
        return "; ".join(f"{a['source']}: {fn(a)}" for a in acts) or "no source registered"

    roles = ", ".join(f"{r['role']} ({r['active_keys']} active keys)"
                      for r in records["recipients"])
    req = stats["requests"]["by_kind"]
    handled = ", ".join(f"{k}: {v['received']} received, median {v['median_response_days']} d"
                        for k, v in req.items() if v["received"]) or "no requests in the period"
    flagged = len(stats["searches"]["undeclared_purpose"])
    sections = [
        ("1. Description of the processing", [
            ("Controller (name, contact, DPO)",
             per_source(lambda a: a["controller"]) + " " + _j("add contact details and DPO")),
            ("Joint controllers / processors (hosting, support)", _j("name them")),
            ("Purpose(s) of each source (one line each, as registered with `source add`)",
             per_source(lambda a: a["purpose"])),
            ("Who searches (roles, number of people) and why",
             f"{roles}. Searches in the period by role: {stats['searches']['by_role']}. "
             + _j("say who these people are and why")),
            ("Sources: kind, location, number of photos, how the photos were obtained",
             per_source(lambda a: f"{a['kind']}, {a['held']['photos']} photos, "
                                  f"{a['held']['faces']} faces")
             + " " + _j("how the photos were obtained")),
            ("Data subjects (who appears in the photos; are minors expected?)",
             per_source(lambda a: f"{a['data_subjects']}; minors: {a['minors_policy_text']}")),
            ("Minors policy per source and how it is enforced in practice",
             per_source(lambda a: a["minors_policy_text"]) + " " + _j("enforcement in practice")),
            ("Retention per source and why that length",
             per_source(lambda a: f"{a['retention_days']} days") + " " + _j("why that length")),
            ("Recipients of search results", roles),
            ("Transfers outside the EEA", records["transfers"]),
        ]),
        ("2. Necessity and proportionality", [
            ("Art. 6 basis per source and why it applies",
             per_source(lambda a: a["lawful_basis_text"]) + " " + _j("why it applies")),
            ("Art. 9(2) condition per source and the law it rests on (for (g), (h), (j): cite it)",
             per_source(lambda a: a["art9_condition_text"]) + " " + _j("cite the law")),
            ("Why face recognition is necessary for the purpose (less intrusive alternatives "
             "considered)", _j()),
            ('Operating point chosen (FAR) and why; who reviews "possible" matches',
             f"search FAR {settings.search_far:g}, verify FAR {settings.operating_far:g}. "
             + _j("why; who reviews possible matches")),
            ("How data subjects are informed (Art. 13/14 notice, where, in which words)", _j()),
            ("How they exercise access, erasure, objection (who handles requests, target delay)",
             f"rights-request register, due in one month (Art. 12(3)); in the period: {handled}; "
             f"{len(stats['requests']['overdue'])} overdue. " + _j("who handles requests")),
            ("Is purpose/case enforcement on (FACELEDGER_REQUIRE_PURPOSE)? If off, why",
             ("on" if safe["purpose_and_case_required"] else "OFF " + _j("why"))
             + "; undeclared purposes refused: "
             + ("yes" if safe["undeclared_purposes_refused"] else "no")
             + f" ({flagged} searches in the period had a purpose no source declares)"),
        ]),
        ("3. Risks to the rights and freedoms of data subjects", [
            ("For each: likelihood, severity, measures, residual risk", _j()),
            *[(f"- {risk}", _j()) for risk in (
                "Misidentification (false match) leading to a wrong decision about a person",
                "A search for a purpose other than the registered one",
                "Unauthorised access to the data dir / theft of a backup",
                "Theft or leak of the template key",
                "Memory exposure on the search host (templates are in plaintext in memory)",
                "A source that contains scraped or unlawfully obtained photos",
                "Photos of minors",
                "Re-collection of a person who objected (opt-out miss rate, see benchmarks)",
                "Blocking of a person who did not object (opt-out false-block rate)",
                'An access copy that shows someone else\'s face ("possible" matches)',
                "Erasure not reaching backups and snapshots",
                "Tampering with the audit log")],
        ]),
        ("4. Measures", [
            ("Key storage (where is the key file / FACELEDGER_KEY kept; who can read it)",
             safe["template_encryption"] + " " + _j("where, who can read it")),
            ("Key rotation schedule (and after each erasure request?)", _j()),
            ("Backups: where, encrypted with what, how long kept, how erasures reach them", _j()),
            ("Audit log: who runs `audit verify`, how often; where the head anchor is written down",
             f"{safe['audit_log']}; intact now: {safe['audit_log_intact']} "
             f"({safe['audit_entries']} entries). " + _j("who, how often, where")),
            ("Audit export to the supervisory authority on request: who, how fast",
             "audit.jsonl in this report (signed trailer). " + _j("who, how fast")),
            ("Retention job schedule (`faceledger retention run`)",
             f"{stats['retention_runs']} retention runs in the period. " + _j("schedule")),
            ("Access control to the CLI / HTTP API (API keys, roles)", safe["access_control"]),
            ("Staff training and instructions on purpose and case references", _j()),
        ]),
        ("5. Sign-off", [
            ("DPO advice and date", _j()),
            ("Data subjects' views sought (how) or why not", _j()),
            ("Decision and date; date of next review", _j()),
        ]),
    ]
    lines = ["# Data protection impact assessment (GDPR Art. 35)", "",
             f"Generated by faceledger from store {records['store_id']} for the period "
             f"{stats['period']['from'] or 'start'} to {stats['period']['to'] or 'now'}. "
             "Facts come from the store; every `[OPERATOR: ...]` field is the controller's "
             "judgement and must be written by them.", ""]
    for title, fields in sections:
        lines += [f"## {title}", ""]
        lines += [f"- **{label}:** {value}" for label, value in fields]
        lines.append("")
    return "\n".join(lines)
