"""Who may call what: one table, keyed by (method, route path), read by the one dependency
that guards every route (:func:`faceledger.api.auth.authorize`).

A route missing from the table is refused to everyone (fail closed), and the test suite
calls every route of the app with every role, so a new route without a rule fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass

from .keys import RightsKind, Role

A, OP, INV, AUD = Role.ADMIN, Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    public: bool = False
    rights: RightsKind | None = None  # subject routes: the kind of token they take

    def allows(self, role: Role | None) -> bool:
        return self.public or (role is not None and role in self.roles)


def _r(*roles: Role) -> Rule:
    return Rule(frozenset(roles))


PUBLIC = Rule(frozenset(), public=True)
ANY_KEY = _r(A, OP, INV, AUD)


def _subject(kind: RightsKind) -> Rule:
    return Rule(frozenset({Role.SUBJECT}), rights=kind)


POLICY: dict[tuple[str, str], Rule] = {
    # system
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/metrics"): _r(A, OP),
    ("GET", "/api/whoami"): ANY_KEY,
    # sources: admins add them; every key may read their lawful basis (auditors check it,
    # investigators see it beside each result, operators choose what to ingest)
    ("GET", "/api/sources"): ANY_KEY,
    ("GET", "/api/sources/{name}"): ANY_KEY,
    ("POST", "/api/sources"): _r(A),
    # ingest
    ("POST", "/api/ingest/runs"): _r(OP),
    ("GET", "/api/ingest/runs"): _r(OP),
    ("GET", "/api/ingest/runs/{run_id}"): _r(OP),
    ("POST", "/api/ingest/runs/{run_id}/stop"): _r(OP),
    # search and verify (purpose and case required by the route)
    ("POST", "/api/search"): _r(INV),
    ("POST", "/api/verify"): _r(INV),
    ("GET", "/api/faces/{face_id}/crop"): _r(INV),
    ("GET", "/api/photos/{photo_id}"): _r(INV),
    ("GET", "/api/photos/{photo_id}/image"): _r(INV),
    # data-subject rights: one-time token only
    ("POST", "/api/rights/access"): _subject(RightsKind.ACCESS),
    ("POST", "/api/rights/erasure"): _subject(RightsKind.ERASURE),
    ("POST", "/api/rights/opt-out"): _subject(RightsKind.OPT_OUT),
    ("GET", "/api/rights/token"): Rule(frozenset({Role.SUBJECT})),
    ("POST", "/api/rights/watch"): _subject(RightsKind.WATCH),
    # named subjects (operators enrol, auditors read) and recognition (like a search)
    ("GET", "/api/subjects"): _r(A, OP, AUD),
    ("GET", "/api/subjects/{subject_id}"): _r(A, OP, AUD),
    ("POST", "/api/subjects"): _r(A, OP),
    ("DELETE", "/api/subjects/{subject_id}"): _r(A, OP),
    ("POST", "/api/recognize"): _r(INV, OP),
    # consented watches and their alerts; a data subject withdraws their own watch with
    # the credential they were given (the route checks it and rate-limits refusals)
    ("POST", "/api/subjects/{subject_id}/watches"): _r(A, OP),
    ("GET", "/api/watches"): _r(A, OP, AUD),
    ("DELETE", "/api/watches/{watch_id}"): _r(A, OP),
    ("POST", "/api/watches/withdraw"): PUBLIC,
    ("GET", "/api/alerts"): _r(A, OP, AUD),
    # admin: keys and subject tokens
    ("GET", "/api/keys"): _r(A),
    ("POST", "/api/keys"): _r(A),
    ("DELETE", "/api/keys/{key_id}"): _r(A),
    ("GET", "/api/subject-tokens"): _r(A),
    ("POST", "/api/subject-tokens"): _r(A),
    # the rights-request register: admins change it; admins and auditors (the DPO) read it
    ("GET", "/api/requests"): _r(A, AUD),
    ("GET", "/api/requests/{request_id}"): _r(A, AUD),
    ("GET", "/api/requests/{request_id}/receipt"): _r(A, AUD),
    ("POST", "/api/requests"): _r(A),
    ("POST", "/api/requests/{request_id}/extend"): _r(A),
    ("POST", "/api/requests/{request_id}/close"): _r(A),
    # persons (issue 14): investigators read and correct them
    ("GET", "/api/people"): _r(INV),
    ("GET", "/api/people/{person_id}"): _r(INV),
    ("POST", "/api/people/merge"): _r(INV),
    ("POST", "/api/people/split"): _r(INV),
    ("POST", "/api/people/recluster"): _r(INV, A),
    ("POST", "/api/people/{person_id}/rename"): _r(INV),
    ("POST", "/api/people/{person_id}/hide"): _r(INV),
    ("POST", "/api/people/{person_id}/not-this"): _r(INV),
    # operator-reviewed erasure and opt-out (admins answer the register's requests)
    ("POST", "/api/erasure/review"): _r(A),
    ("POST", "/api/erasure/confirm"): _r(A),
    ("POST", "/api/people/{person_id}/erase"): _r(A),
    ("POST", "/api/people/{person_id}/opt-out"): _r(A),
    ("GET", "/people"): _r(INV),
    ("GET", "/people/{person_id}"): _r(INV),
    ("GET", "/photos/{photo_id}"): _r(INV),
    # audit
    ("GET", "/api/audit"): _r(AUD),
    ("GET", "/api/audit/verify"): _r(AUD),
    # web pages (their data comes from the API above, under the same rules)
    ("GET", "/"): PUBLIC,
    ("GET", "/signin"): PUBLIC,
    ("POST", "/signin"): PUBLIC,
    ("POST", "/signout"): PUBLIC,
    ("GET", "/rights"): PUBLIC,
    ("GET", "/search"): _r(INV),
    ("GET", "/ingest"): _r(OP),
    ("GET", "/sources"): ANY_KEY,
    ("GET", "/audit"): _r(AUD),
    ("GET", "/admin"): _r(A),
    ("GET", "/requests"): _r(A, AUD),
    ("GET", "/subjects"): _r(A, OP, AUD),
    ("GET", "/alerts"): _r(A, OP, AUD),
}


def rule_for(method: str, path: str) -> Rule | None:
    if method == "HEAD":
        method = "GET"
    return POLICY.get((method, path))


def route_table(app: object) -> list[tuple[str, str]]:
    """Every (method, path) the app's guarded routes answer, however routers were included
    (FastAPI may wrap included routers; their routes are walked too)."""
    from fastapi.routing import APIRoute

    found: list[tuple[str, str]] = []

    def walk(routes: list) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute):
                found.extend((m, route.path) for m in sorted(route.methods) if m != "HEAD")

    walk(getattr(app, "routes", []))
    return sorted(set(found))


UNGUARDED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}
"""Routes the framework adds outside the policy: the OpenAPI schema, its viewers, static files."""
