"""``faceledger serve --demo``: builds the demo store, prints a first admin key that works,
and does not print a second one on the next start."""

from __future__ import annotations

from click.testing import CliRunner

from faceledger.api.keys import KeyStore
from faceledger.cli.main import main


def test_serve_demo_prepares_store_and_first_admin_key(tmp_path, lfw_dir, models_dir):
    data = tmp_path / "demo"
    args = ["--data", str(data), "--models-dir", str(models_dir), "serve", "--demo",
            "--people", "6", "--no-serve"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    line = next(x for x in first.output.splitlines() if x.startswith("admin API key"))
    secret = line.rsplit(" ", 1)[1]
    with KeyStore.for_data_dir(data) as keys:
        assert keys.authenticate(secret).role.value == "admin"
    assert "demo store in" in first.output and "6 photos read" in first.output

    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "admin key exists already" in second.output and "flk_" not in second.output
    assert "0 photos read" in second.output
