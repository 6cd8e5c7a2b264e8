"""Finding 2 and 6: an ingest killed with kill -9 left no audit entry and stayed "running"
forever; two ingests of one source at once ended in a raw IntegrityError.

Real processes on a real store: the run holds an OS lock for its life, so a run whose lock
is free is dead, and a second run of the same source is refused with a clear message.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from faceledger import init_store, open_store

from ..conftest import lfw_image
from .audit_support import child, settings_for, source_kwargs

INGEST = """
import sys
from pathlib import Path
from faceledger import Settings, open_store

root = Path(sys.argv[1])
st = open_store(Settings(data_dir=root / "data", key_file=root / "keys" / "t.key",
                         models_dir=Path(sys.argv[2]), workers=1, batch_size=2))
st.ingest("events", workers=1,
          progress=lambda p: print("progress", p.done, flush=True))
print("finished", flush=True)
st.close()
"""

CLI = "import sys; from faceledger.cli.main import main; sys.argv[0] = 'faceledger'; main()"


PEOPLE = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Donald_Rumsfeld", "Gerhard_Schroeder",
          "Ariel_Sharon", "Hugo_Chavez", "Junichiro_Koizumi", "Jean_Chretien", "John_Ashcroft",
          "Serena_Williams", "Jacques_Chirac"]


def _gallery(root: Path, lfw_dir: Path, people: int, each: int = 4) -> Path:
    photos = root / "photos"
    for name in PEOPLE[:people]:
        (photos / name).mkdir(parents=True)
        for n in range(1, each + 1):
            shutil.copy(lfw_image(lfw_dir, name, n), photos / name)
    return photos


@pytest.fixture()
def world(tmp_path, lfw_dir, models_dir):
    # 144 photos: the first ingest must still run while a second CLI process starts (it
    # loads the models too) and is refused; with fewer, a fast ingest can end first
    photos = _gallery(tmp_path, lfw_dir, people=12, each=12)
    st = init_store(settings_for(tmp_path, models_dir))
    st.add_source("events", **source_kwargs(photos))
    st.close()
    return tmp_path, models_dir


def _start(root: Path, models_dir: Path) -> subprocess.Popen:
    return child(INGEST, str(root), str(models_dir), stdout=subprocess.PIPE, text=True)


def _wait_for_progress(proc: subprocess.Popen, done: int) -> None:
    for line in proc.stdout:
        if line.startswith("progress") and int(line.split()[1]) >= done:
            return
    raise AssertionError(f"the ingest ended before {done} photos: {proc.wait()}")


def _runs(root: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(str(root / "data" / "catalog.db"))
    try:
        return [(int(i), s) for i, s in conn.execute("SELECT id, status FROM ingest_runs")]
    finally:
        conn.close()


def test_a_killed_run_is_marked_crashed_and_audited_on_open(world):
    root, models_dir = world
    proc = _start(root, models_dir)
    _wait_for_progress(proc, 4)  # two batches committed
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert _runs(root) == [(1, "running")]  # what the dead process left

    st = open_store(settings_for(root, models_dir))
    try:
        run = st.catalog.run(1)
        assert run.status == "crashed" and run.photos >= 4 and run.finished_at
        entries = st.audit.entries()
        intent = next(e for e in entries if e.action == "ingest_intent")
        end = [e for e in entries if e.action == "ingest_run"]
        assert len(end) == 1 and end[0].outputs["status"] == "crashed"
        assert end[0].inputs["intent_seq"] == intent.seq and end[0].outputs["photos"] == run.photos
        result = st.audit.verify()
        assert result.ok and not result.open_intents
        # the next run resumes where the dead one stopped
        report = st.ingest("events", workers=1)
        assert report.status == "completed" and report.skipped == run.photos
    finally:
        st.close()


def test_a_second_ingest_of_the_same_source_is_refused_and_a_live_run_left_alone(world):
    root, models_dir = world
    first = _start(root, models_dir)
    try:
        _wait_for_progress(first, 2)
        second = child(CLI, "--data", str(root / "data"), "ingest", "events",
                       env={"FACELEDGER_KEY_FILE": str(root / "keys" / "t.key"),
                            "FACELEDGER_MODELS_DIR": str(models_dir)},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 2, (out, err)
        assert "Traceback" not in err and "IntegrityError" not in err, err
        assert "ingest of source 'events' is in progress" in err, err
        assert [r[0] for r in _runs(root)] == [1]  # the refused one wrote nothing
        # another process opening the store must not take the live run for a dead one
        st = open_store(settings_for(root, models_dir))
        try:
            assert st.catalog.run(1).status == "running"
            assert [(e.action, live) for e, live in st.open_intents()] == [
                ("ingest_intent", True)]
        finally:
            st.close()
    finally:
        rest, _ = first.communicate(timeout=300)
    assert "finished" in rest and first.returncode == 0
    assert _runs(root) == [(1, "completed")]
