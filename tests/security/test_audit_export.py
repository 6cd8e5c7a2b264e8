"""Finding 2: an exported audit log with its last lines cut off verified OK, and
`audit verify --file` ignored `--anchor`. Exports now end with a trailer (count, last hash)
signed with the store key."""

from __future__ import annotations

import json
from pathlib import Path

from faceledger.privacy.audit import canonical_json

from .audit_support import busy_store, cli


def _export(tmp_path: Path, *extra: str) -> tuple[Path, list[str], tuple[int, str]]:
    st = busy_store(tmp_path, entries=8)
    head = st.audit.head()
    st.close()
    out = tmp_path / "audit.jsonl"
    result = cli(tmp_path, "audit", "export", "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    return out, out.read_text().splitlines(), head


def _verify(tmp_path: Path, path: Path, *extra: str):
    return cli(tmp_path, "audit", "verify", "--file", str(path), *extra)


def test_an_intact_export_verifies_with_its_signed_trailer(tmp_path):
    out, lines, head = _export(tmp_path)
    trailer = json.loads(lines[-1])
    assert trailer["count"] == len(lines) - 1 and trailer["last_seq"] == head[0]
    assert trailer["last_hash"] == head[1] and len(trailer["mac"]) == 64
    result = _verify(tmp_path, out, "--anchor", f"{head[0]}:{head[1]}")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "sealed" in result.output


def test_an_export_with_its_last_lines_cut_off_fails(tmp_path):
    out, lines, head = _export(tmp_path)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-3]) + "\n")  # trailer and two entries gone
    result = _verify(tmp_path, cut)
    assert result.exit_code == 1, result.output
    assert "cut short" in result.output
    half = tmp_path / "half-line.jsonl"
    half.write_text("\n".join(lines)[: -40])  # cut inside the trailer line
    assert _verify(tmp_path, half).exit_code == 1


def test_a_cut_export_with_a_trailer_forged_without_the_key_fails(tmp_path):
    out, lines, head = _export(tmp_path)
    kept = lines[:-3]
    last = json.loads(kept[-1])
    trailer = json.loads(lines[-1])
    trailer.update(count=len(kept), last_seq=last["seq"], last_hash=last["hash"], mac="0" * 64)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join([*kept, canonical_json(trailer)]) + "\n")
    result = _verify(tmp_path, forged)
    assert result.exit_code == 1, result.output
    assert "HMAC" in result.output


def test_a_trailer_that_disagrees_with_the_lines_fails(tmp_path):
    out, lines, head = _export(tmp_path)
    spliced = tmp_path / "spliced.jsonl"
    spliced.write_text("\n".join([*lines[:-3], lines[-1]]) + "\n")  # entries cut, trailer kept
    result = _verify(tmp_path, spliced)
    assert result.exit_code == 1 and "trailer says" in result.output, result.output


def test_anchor_is_checked_with_file(tmp_path):
    out, lines, head = _export(tmp_path)
    wrong = _verify(tmp_path, out, "--anchor", f"{head[0]}:{'f' * 64}")
    assert wrong.exit_code == 1 and "anchor" in wrong.output, wrong.output
    beyond = _verify(tmp_path, out, "--anchor", f"{head[0] + 5}:{head[1]}")
    assert beyond.exit_code == 1 and "gone" in beyond.output, beyond.output
    middle = json.loads(lines[2])
    assert _verify(tmp_path, out, "--anchor", f"{middle['seq']}:{middle['hash']}").exit_code == 0


def test_a_partial_export_verifies_from_where_it_starts(tmp_path):
    out, lines, head = _export(tmp_path, "--since", "4")
    assert json.loads(lines[0])["seq"] == 5
    assert _verify(tmp_path, out).exit_code == 0
    before = _verify(tmp_path, out, "--anchor", f"2:{'a' * 64}")
    assert before.exit_code == 1 and "comes before" in before.output


def test_without_the_store_the_trailer_is_checked_but_said_unauthenticated(tmp_path):
    out, lines, head = _export(tmp_path)
    elsewhere = tmp_path / "no-store-here"
    ok = cli(tmp_path, "audit", "verify", "--file", str(out), data=elsewhere)
    assert ok.exit_code == 0 and "NOT authenticated" in ok.output, ok.output
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-2]) + "\n")
    assert cli(tmp_path, "audit", "verify", "--file", str(cut), data=elsewhere).exit_code == 1
