"""`faceledger requests` and `faceledger report regulator` from the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from faceledger.cli.main import main


def test_a_request_through_the_cli(tmp_path):
    env = {"FACELEDGER_KEY_FILE": str(tmp_path / "k" / "t.key")}
    run = lambda *a: CliRunner().invoke(main, ["--data", str(tmp_path / "d"), *a], env=env)  # noqa: E731
    assert run("init").exit_code == 0
    r = run("requests", "open", "--kind", "objection", "--subject", "REQ-1", "--channel",
            "email", "--received", "2020-01-01")
    assert r.exit_code == 0, r.output
    rid = r.stdout.strip().splitlines()[0]
    assert rid.startswith("RR-20200101-")
    listed = run("requests", "list", "--overdue")
    assert rid in listed.output and "OVERDUE" in listed.output
    late = run("requests", "extend", rid, "--reason", "busy")
    assert late.exit_code == 2 and "within the first month" in late.output
    r = run("requests", "close", rid, "--done")
    assert r.exit_code == 2 and "verify the person's identity first" in r.output
    assert run("requests", "close", rid, "--refuse", "--reason", "unfounded").exit_code == 0
    shown = json.loads(run("requests", "show", rid, "--json").output)
    assert (shown["state"], shown["late"], shown["outcome"]) == ("refused", True, "unfounded")
    assert run("requests", "show", "RR-nope").exit_code == 2
    r = run("report", "regulator", "--out", str(tmp_path / "dpo"))
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "dpo" / "statistics.json").read_text())
    assert stats["requests"]["by_kind"]["objection"]["refused"] == 1
    assert stats["requests"]["late"][0]["id"] == rid
