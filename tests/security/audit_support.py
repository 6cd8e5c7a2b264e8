"""Helpers for the audit, crash and file-mode attacks: real stores with their key outside
the data dir, the CLI, raw SQLite access as an attacker has it, and child processes that
run this checkout's code (so they can be killed with real signals)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import faceledger
from faceledger import ActionContext, Settings, init_store
from faceledger.cli.main import main

SRC = Path(faceledger.__file__).resolve().parents[1]
CTX = ActionContext(actor="officer-7", purpose="security test", case="SEC-9")


def settings_for(root: Path, models_dir: Path | None = None, **kw) -> Settings:
    extra = {"models_dir": models_dir} if models_dir is not None else {}
    return Settings(data_dir=root / "data", key_file=root / "keys" / "t.key", workers=1,
                    **extra, **kw)


def source_kwargs(location: Path) -> dict:
    return dict(location=location, controller="Acme Photo Ltd", lawful_basis="consent",
                special_category_condition="explicit-consent",
                purpose="attendees find their photos", retention_days=30,
                minors_policy="none-expected")


def busy_store(root: Path, entries: int = 6):
    """A store (no model needed) with a source and a few audited actions."""
    (root / "photos").mkdir(parents=True, exist_ok=True)
    st = init_store(settings_for(root))
    st.add_source("events", **source_kwargs(root / "photos"))
    for i in range(entries):
        st.record("search", "officer-7", "security test", f"SEC-{i}",
                  inputs={"probe_sha256": f"{i:064x}"}, outputs={"faces": []})
    return st


def cli(root: Path, *args: str, data: Path | None = None):
    env = {"FACELEDGER_KEY_FILE": str(root / "keys" / "t.key")}
    return CliRunner().invoke(main, ["--data", str(data or root / "data"), *args], env=env)


def attacker(db: Path) -> sqlite3.Connection:
    """Write access to a SQLite file, append-only triggers dropped first."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
    conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    return conn


def snapshot(db: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite file (what a backup or an old copy is)."""
    src = sqlite3.connect(str(db))
    out = sqlite3.connect(str(dest))
    src.backup(out)
    out.close()
    src.close()


def restore(copy: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(copy.read_bytes())


def entry_actions(db: Path) -> list[str]:
    import json

    conn = sqlite3.connect(str(db))
    try:
        rows = conn.execute("SELECT body FROM entries ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [json.loads(r[0])["action"] for r in rows]


def child(code: str, *args: str, **popen) -> subprocess.Popen:
    """A Python process running ``code`` (with ``args`` in sys.argv[1:]) on this
    checkout's faceledger."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.update(popen.pop("env", {}))
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, **popen)
