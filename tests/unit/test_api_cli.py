"""``faceledger apikeys``: create prints the key once, list never shows secrets, revoke
works, and every change lands in the store's audit log."""

from __future__ import annotations

from click.testing import CliRunner

from faceledger import Settings, init_store
from faceledger.api.keys import KeyStore
from faceledger.cli.main import main


def test_apikeys_create_list_revoke(tmp_path):
    init_store(Settings(data_dir=tmp_path)).close()
    runner = CliRunner()
    base = ["--data", str(tmp_path), "apikeys"]

    created = runner.invoke(main, [*base, "create", "--role", "investigator", "--name", "alice"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[0]
    assert secret.startswith("flk_")
    with KeyStore.for_data_dir(tmp_path) as keys:
        assert keys.authenticate(secret).name == "alice"
        key_id = keys.list()[0].id

    listed = runner.invoke(main, [*base, "list"])
    assert listed.exit_code == 0 and "alice" in listed.output and "investigator" in listed.output
    assert secret.split("_", 2)[2] not in listed.output

    bad = runner.invoke(main, [*base, "create", "--role", "subject", "--name", "x"])
    assert bad.exit_code != 0

    revoked = runner.invoke(main, [*base, "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(main, [*base, "revoke", key_id])
    assert again.exit_code == 2 and "no active API key" in again.output

    token = runner.invoke(main, [*base, "subject-token", "--subject", "REQ-9", "--kind", "access"])
    assert token.exit_code == 0 and token.stdout.strip().startswith("fls_")

    with init_store(Settings(data_dir=tmp_path)) as store:
        actions = [e.action for e in store.audit.entries()]
    assert actions.count("api_key_create") == 1
    assert "api_key_revoke" in actions and "subject_token_issue" in actions


def test_serve_without_a_store_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["--data", str(tmp_path / "none"), "serve", "--no-serve"])
    assert result.exit_code == 2
    assert "no faceledger store" in result.output
