"""Two machines of one cluster store: two ``Store`` objects on two data dirs that share one
PostgreSQL catalog (the real server started by ``scripts/services.sh``; the vectors are each
machine's FAISS segments). What one machine records, the other honours: an opt-out, an
erasure's tombstone, a lock held."""

from __future__ import annotations

import threading
import time

import pytest

from faceledger import Settings, init_store
from faceledger.errors import AuthError, BusyError
from faceledger.privacy import erasure
from faceledger.privacy.rights import opt_out_person, remove_opt_out
from faceledger.store.pg_locks import PgLock

from ..cluster_support import drop_schema, new_schema_name, with_schema, without_password
from ..conftest import lfw_image
from .rights_support import CTX, catalog_files, make_gallery, scan, source_kwargs

pytestmark = pytest.mark.cluster

PERSON = "Tony_Blair"
OTHERS = ["Colin_Powell", "Serena_Williams"]


@pytest.fixture()
def catalog_url(services_env, monkeypatch):
    """A new schema of the service's database, without the password (PGPASSWORD has it,
    as on a real deployment), dropped after the test."""
    if "FACELEDGER_PG_URL" not in services_env:
        pytest.fail("the services are up but PostgreSQL is not among them")
    base = services_env["FACELEDGER_PG_URL"]
    url, password = without_password(base)
    if password is not None:
        monkeypatch.setenv("PGPASSWORD", password)
    schema = new_schema_name("two")
    yield with_schema(url, schema)
    drop_schema(base, schema)


@pytest.fixture()
def machines(tmp_path, models_dir, catalog_url):
    """Machine A makes the store; machine B joins it (``faceledger init DIR --catalog URL``
    with the same URL); both load the one template key (a real deployment gives it to
    every machine, e.g. in FACELEDGER_KEY)."""
    def settings(name: str) -> Settings:
        return Settings(data_dir=tmp_path / name / "data", models_dir=models_dir,
                        key_file=tmp_path / "keys" / "store.key", workers=1,
                        catalog=catalog_url)

    a = init_store(settings("a"))
    b = init_store(settings("b"))
    yield a, b
    b.close()
    a.close()


def _faces_of(store, person: str, min_width: float = 0.0) -> list:
    return store.catalog.query(
        "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id "
        "WHERE p.uri LIKE ? AND f.box_w > ?", (f"%/{person}/%", min_width))


def test_both_machines_are_one_store_with_nothing_private_in_their_data_dirs(machines):
    a, b = machines
    assert a.store_id == b.store_id and a.data_dir != b.data_dir
    for st in (a, b):
        assert type(st.locks).__name__ == "PgLocks"
        assert st.tombstones._db is st.catalog.db and st.optout._db is st.catalog.db
        assert not (st.data_dir / "privacy.db").exists()
        assert not (st.data_dir / "locks").exists()


def test_an_opt_out_recorded_on_one_machine_blocks_an_ingest_on_the_other(
        machines, tmp_path, lfw_dir):
    a, b = machines
    result = opt_out_person(a, [lfw_image(lfw_dir, PERSON, 1), lfw_image(lfw_dir, PERSON, 2)],
                            context=CTX)
    assert result.entry.selfies == 2
    assert [e.id for e in b.optout.entries()] == [result.entry.id]
    gallery = make_gallery(tmp_path / "photos", lfw_dir, [PERSON, *OTHERS], range(3, 6))
    b.add_source("events", **source_kwargs(gallery))
    report = b.ingest("events", workers=1)
    assert report.blocked >= 3
    assert not _faces_of(b, PERSON, 60)  # the person's own (large, central) faces: none
    for name in OTHERS:
        assert _faces_of(a, name), f"{name} was wrongly blocked"


def test_a_photo_erased_through_one_machine_is_never_collected_by_the_other(
        machines, tmp_path, lfw_dir):
    a, b = machines
    gallery = make_gallery(tmp_path / "photos", lfw_dir, [PERSON, OTHERS[0]], range(1, 3))
    a.add_source("events", **source_kwargs(gallery))
    first = a.ingest("events", workers=1)
    assert first.photos == 4
    photo_id = int(a.catalog.query("SELECT id FROM photos WHERE uri LIKE ? ORDER BY id",
                                   (f"%/{PERSON}/%",))[0][0])
    uri = a.photo(photo_id).uri
    face_ids = [f.id for f in a.photo_faces(photo_id)]
    assert face_ids
    report = erasure.erase(a, photo_ids=[photo_id], context=CTX)
    assert report.photos == [photo_id]
    source_id = b.catalog.source("events").id
    assert b.tombstones.is_erased(source_id, uri)
    # B is asked to collect the source again (a new run reads the whole folder)
    b.catalog.query("SELECT 1")  # B's catalog sees A's commits (no cache to refresh)
    again = b.ingest("events", workers=1)
    assert again.photos == 0  # the three others are held already, the erased one is skipped
    assert not b.catalog.query("SELECT id FROM photos WHERE uri = ?", (uri,))
    assert b.catalog.existing_face_ids(face_ids) == set()
    assert b.check().ok  # B's own FAISS segments followed the erasure through the log


def test_a_lock_held_on_one_machine_blocks_the_other(machines, monkeypatch):
    a, b = machines
    held = a.locks.lock(erasure.ERASURE_LOCK)
    assert held.acquire(0.0)
    try:
        assert not b.locks.lock(erasure.ERASURE_LOCK).acquire(0.2)
        monkeypatch.setattr(erasure, "ERASURE_WAIT", 0.5)
        with pytest.raises(BusyError, match=r"another erasure is in progress by pid \d+"):
            b.erase_faces([1], context=CTX)
    finally:
        held.release()
    assert b.erase_faces([1], context=CTX).not_found == [1]  # free now: B's erasure runs


def test_a_source_change_waits_for_the_other_machines(machines, tmp_path):
    a, b = machines
    (tmp_path / "empty").mkdir()
    held = a.locks.lock("sources").require("a source change")
    done = threading.Event()
    errors: list[BaseException] = []

    def add() -> None:
        try:
            b.add_source("later", **source_kwargs(tmp_path / "empty"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        done.set()

    worker = threading.Thread(target=add)
    worker.start()
    try:
        assert not done.wait(1.0), "B changed the sources while A held their lock"
        assert not a.catalog.has_source("later")
    finally:
        held.release()
    assert done.wait(30.0) and not errors, errors
    worker.join()
    assert a.catalog.has_source("later")


def test_a_live_action_of_one_machine_is_not_closed_by_the_other(machines):
    """A store that opens closes the intents whose process died; the lock tells it which.
    With per-machine file locks, B would find A's lock free and close A's live action."""
    a, b = machines
    lock = a.locks.lock("sources").require("a source change")
    try:
        intent = a.audit.begin("source_add", "cli", inputs={"source": "x"}, lock=lock.name)
        again = init_store(b.settings)  # B's machine restarts its store meanwhile
        try:
            assert intent.seq in [p.seq for p in again.audit.pending()]
            live = {e.seq: alive for e, alive in again.open_intents()}
            assert live[intent.seq] is True
        finally:
            again.close()
        a.audit.complete(intent, "source_add", "cli", inputs={"source": "x"},
                         outputs={"status": "refused"})
    finally:
        lock.release()
    assert not b.audit.pending()


def test_the_lock_of_a_process_that_dies_is_free_at_once(machines, catalog_url):
    """The server drops a session's advisory locks with its connection, as the kernel drops
    a dead process's flock: no stale lock after a crash."""
    import subprocess
    import sys

    a, _b = machines
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from faceledger.store.pg_db import PostgresDB\n"
         "from faceledger.store.pg_locks import PgLock\n"
         f"lock = PgLock(PostgresDB({catalog_url!r}), 'erasure')\n"
         "assert lock.acquire(5.0)\n"
         "print('held', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        probe: PgLock = a.locks.lock(erasure.ERASURE_LOCK)
        assert not probe.acquire(0.0)
        assert (probe.holder() or "").startswith(f"pid {child.pid} on ")
        child.kill()
        child.wait(10)
        start = time.monotonic()
        assert probe.acquire(5.0)
        probe.release()
        assert time.monotonic() - start < 5.0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_a_removed_opt_out_template_leaves_the_servers_files(machines, lfw_dir):
    """On PostgreSQL a deleted row stays in the table's file until VACUUM: removing an
    entry rewrites the list's tables and retires the WAL that carried the template. The
    whole data directory of the server is scanned for the template's stored bytes."""
    a, b = machines
    entry = opt_out_person(a, [lfw_image(lfw_dir, PERSON, 1)], context=CTX,
                           erase_existing=False).entry
    stored = bytes(a.catalog.query("SELECT template FROM optout_templates")[0][0])
    a.catalog.db.execute("CHECKPOINT")  # the row reaches the table's file
    server_dir = catalog_files(a)[1]
    assert scan(server_dir, {"t": stored[-48:]}), "control: the template is in the files"
    remove_opt_out(b, entry.id, context=CTX)  # through the other machine
    assert len(a.optout) == 0
    assert scan(server_dir, {"t": stored[-48:]}) == {}


def test_a_key_made_on_one_machine_opens_the_others_server_until_revoked(machines):
    """keys.db's tables are in the shared database: machine B's real server accepts a key
    created through machine A, and refuses it (and its web sessions) once A revokes it."""
    import httpx

    from faceledger.api import create_app
    from faceledger.api.key_admin import create_key, revoke_key
    from faceledger.api.keys import KeyStore
    from faceledger.api.server import BackgroundServer

    a, b = machines
    keys_a = KeyStore.for_data_dir(a.data_dir)
    server = None
    try:
        assert keys_a.path is None and not (a.data_dir / "keys.db").exists()
        issued = create_key(a, keys_a, "ops on A", "auditor", actor="cli")
        app = create_app(b.settings, store=b, preload_models=False)
        server = BackgroundServer(app).start()
        session = app.state.ctx.keys.sessions.create(issued.key.id)  # a sign-in on B
        with httpx.Client(base_url=server.url, timeout=30) as client:
            bearer = {"Authorization": f"Bearer {issued.secret}"}
            assert client.get("/api/audit/verify", headers=bearer).status_code == 200
            revoke_key(a, keys_a, issued.key.id, actor="cli")
            assert client.get("/api/audit/verify", headers=bearer).status_code == 401
        assert not b.audit.pending()
        with pytest.raises(AuthError, match="signed out|revoked"):
            app.state.ctx.keys.authenticate_session(session.secret)
    finally:
        if server is not None:
            server.stop()
        keys_a.close()
