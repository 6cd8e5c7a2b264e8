"""Finding 7: ingest worker processes outlived a killed parent (blocked for ever on the
pool's queue, each holding a model). An ingest with 2 workers runs in a real process; the
parent is killed with SIGKILL; its workers must be gone within a few seconds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from faceledger import init_store

from ..conftest import lfw_image
from .audit_support import child, settings_for, source_kwargs

PEOPLE = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Donald_Rumsfeld", "Gerhard_Schroeder",
          "Ariel_Sharon", "Hugo_Chavez", "Junichiro_Koizumi", "Jean_Chretien", "John_Ashcroft"]

INGEST = """
import sys
from pathlib import Path
from faceledger import Settings, open_store

if __name__ == "__main__":
    root = Path(sys.argv[1])
    st = open_store(Settings(data_dir=root / "data", key_file=root / "keys" / "t.key",
                             models_dir=Path(sys.argv[2]), workers=2, batch_size=2))
    st.ingest("events", workers=2, processes=True,
              progress=lambda p: print("progress", p.done, flush=True))
"""


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent has to reap it


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_workers_exit_when_the_ingest_process_is_killed(tmp_path, lfw_dir, models_dir):
    photos = tmp_path / "photos"
    for name in PEOPLE:
        (photos / name).mkdir(parents=True)
        for n in range(1, 5):
            shutil.copy(lfw_image(lfw_dir, name, n), photos / name)
    st = init_store(settings_for(tmp_path, models_dir))
    st.add_source("events", **source_kwargs(photos))
    st.close()

    parent = child(INGEST, str(tmp_path), str(models_dir), stdout=subprocess.PIPE, text=True)
    try:
        workers: set[int] = set()
        for line in parent.stdout:  # wait until the workers analyse photos
            workers = {c for c in _children(parent.pid) if "spawn_main" in _cmdline(c)}
            if line.startswith("progress") and int(line.split()[1]) >= 2 and len(workers) == 2:
                break
        assert len(workers) == 2, f"expected 2 workers, found {workers}"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        left = [w for w in workers if _alive(w)]
        assert not left, f"workers {left} outlived their parent"
    finally:
        for w in _children(parent.pid) | set(workers):
            if _alive(w):
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if parent.poll() is None:
            parent.kill()
