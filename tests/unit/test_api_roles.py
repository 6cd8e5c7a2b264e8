"""Every route of the app, called with every role and with no key.

The parametrisation comes from the app's own route table, so a route added without a rule
in ``faceledger.api.policy.POLICY`` fails here (and is refused to everyone at run time).
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import KEY_ROLES, RightsKind, Role
from faceledger.api.policy import POLICY, UNGUARDED, route_table
from faceledger.privacy.identity import ReferenceTemplate

REFERENCE = ReferenceTemplate(template=b"sealed", pack="yunet-omz0095", photo_sha256="0" * 64)

CALLERS = ["none", *[r.value for r in KEY_ROLES], "subject"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data = tmp_path_factory.mktemp("store")
    store = init_store(Settings(data_dir=data))
    app = create_app(Settings(data_dir=data), store=store, preload_models=False)
    yield app
    app.state.ctx.close()
    store.close()


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def keys(app):
    ks = app.state.ctx.keys
    return {role.value: ks.create(f"test-{role.value}", role).secret for role in KEY_ROLES}


def _headers(app, keys, caller: str, rule) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "subject":
        kind = rule.rights if rule is not None and rule.rights else RightsKind.ACCESS
        token = _token(app, kind)
        return {"Authorization": f"Bearer {token}"}
    return {"Authorization": f"Bearer {keys[caller]}"}


def _token(app, kind) -> str:
    tokens = app.state.ctx.keys.tokens
    return tokens.issue(tokens.new_id(), "REQ-test", kind, "test", REFERENCE).secret


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _all_routes():
    data = None
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = tmp
        store = init_store(Settings(data_dir=data))
        app = create_app(Settings(data_dir=data), store=store, preload_models=False)
        table = route_table(app)
        app.state.ctx.close()
        store.close()
    return table


ROUTES = _all_routes()


def test_every_route_has_a_rule_and_every_rule_a_route():
    assert ROUTES, "the app has no routes?"
    missing = [r for r in ROUTES if r not in POLICY]
    assert not missing, f"routes without an access rule: {missing}"
    stale = [r for r in POLICY if r not in ROUTES]
    assert not stale, f"rules for routes that do not exist: {stale}"


def test_only_framework_routes_are_unguarded(app):
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is None or getattr(route, "original_router", None) is not None:
            continue
        if (("GET", path) not in POLICY) and path not in UNGUARDED:
            pytest.fail(f"{path} is neither guarded nor a known framework route")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method,path", ROUTES)
def test_route_enforces_its_roles(app, client, keys, method, path, caller):
    rule = POLICY[(method, path)]
    response = client.request(
        method, _concrete(path),
        headers={"accept": "application/json", **_headers(app, keys, caller, rule)},
        follow_redirects=False,
    )
    role = None if caller == "none" else Role(caller)
    if rule.public:
        assert response.status_code != 403, response.text
        return
    if role is None:
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
    elif rule.allows(role):
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"


def test_a_route_without_a_rule_is_refused_to_everyone(tmp_path):
    store = init_store(Settings(data_dir=tmp_path))
    app = create_app(Settings(data_dir=tmp_path), store=store, preload_models=False)
    try:
        @app.get("/api/unruled")
        def unruled() -> dict:
            return {"leaked": True}

        admin = app.state.ctx.keys.create("a", Role.ADMIN).secret
        client = TestClient(app)
        for headers in ({}, {"Authorization": f"Bearer {admin}"}):
            response = client.get("/api/unruled", headers=headers)
            assert response.status_code == 403
            assert "no access rule" in response.json()["error"]["message"]
    finally:
        app.state.ctx.close()
        store.close()


def test_errors_are_json_with_a_code_and_a_message(client, keys):
    auth = {"Authorization": f"Bearer {keys['investigator']}"}
    cases = [
        (client.get("/api/sources", headers={"Authorization": "Bearer flk_nope_nope"}), 401,
         "unauthorized"),
        (client.get("/api/sources/nothing-here", headers=auth), 404, "not_found"),
        (client.post("/api/search", headers=auth, data={"purpose": "p", "case": "c"},
                     files={"probe": ("x.jpg", b"not an image", "image/jpeg")}), 422,
         "image_decode_error"),
        (client.post("/api/search", headers=auth, data={"purpose": " ", "case": "c"},
                     files={"probe": ("x.jpg", b"x", "image/jpeg")}), 422, "lawful_basis_required"),
        (client.post("/api/search", headers=auth), 422, "invalid_request"),
        (client.get("/api/no-such-route", headers=auth), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error"]["code"] == code
        assert body["error"]["message"]


def test_key_use_and_refusal_are_audited(app, client, keys):
    audit = app.state.ctx.store.audit
    before = audit.head()[0]
    client.get("/api/sources", headers={"Authorization": f"Bearer {keys['auditor']}"})
    client.get("/api/keys", headers={"Authorization": f"Bearer {keys['auditor']}"})
    entries = audit.entries(before)
    actions = [(e.action, e.inputs.get("route")) for e in entries]
    assert ("api_key_use", "/api/sources") in actions
    assert ("api_key_refused", "/api/keys") in actions
    assert all("test-auditor" in e.actor for e in entries)
    assert audit.verify().ok


def test_subject_token_only_from_the_authorization_header(app, client):
    token = _token(app, "access")
    response = client.get("/api/rights/token", headers={"X-API-Key": token})
    assert response.status_code == 401
    response = client.get("/api/rights/token", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["kind"] == "access"


def test_web_page_without_a_key_redirects_to_sign_in(client):
    response = client.get("/search", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin")


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/search" in paths and "/api/rights/access" in paths
    assert "/signin" not in paths
