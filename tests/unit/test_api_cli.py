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

    with init_store(Settings(data_dir=tmp_path)) as store:
        actions = [e.action for e in store.audit.entries()]
    assert actions.count("api_key_create") == 1
    assert "api_key_revoke" in actions


def test_apikeys_subject_token_needs_a_reference_photo(tmp_path, lfw_dir, models_dir):
    from ..conftest import lfw_image

    init_store(Settings(data_dir=tmp_path, models_dir=models_dir)).close()
    runner = CliRunner()
    base = ["--data", str(tmp_path), "--models-dir", str(models_dir), "apikeys",
            "subject-token", "--subject", "REQ-9", "--kind", "access"]
    missing = runner.invoke(main, base)
    assert missing.exit_code != 0 and "--reference" in missing.output
    photo = lfw_image(lfw_dir, "Tony_Blair", 1)
    token = runner.invoke(main, [*base, "--reference", str(photo)])
    assert token.exit_code == 0, token.output
    assert token.stdout.strip().startswith("fls_")
    with KeyStore.for_data_dir(tmp_path) as keys:
        (issued,) = keys.tokens.list()
        assert keys.tokens.has_reference(issued.id)
    import hashlib

    assert issued.reference_sha256 == hashlib.sha256(photo.read_bytes()).hexdigest()
    with init_store(Settings(data_dir=tmp_path, models_dir=models_dir)) as store:
        entry = [e for e in store.audit.entries() if e.action == "subject_token_issue"][-1]
    assert entry.inputs["reference_sha256"] == issued.reference_sha256


def test_serve_without_a_store_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["--data", str(tmp_path / "none"), "serve", "--no-serve"])
    assert result.exit_code == 2
    assert "no faceledger store" in result.output
