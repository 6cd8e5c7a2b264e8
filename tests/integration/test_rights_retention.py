"""Retention on real photos: expired photos go through the erasure path, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from faceledger import init_store
from faceledger.cli.main import main
from faceledger.privacy.retention import expired_photos, run_retention

from .rights_support import make_gallery, scan, settings_for, source_kwargs

SHORT = ["Colin_Powell", "Tony_Blair"]
LONG = ["Serena_Williams", "Hugo_Chavez"]


@pytest.fixture()
def store(tmp_path, lfw_dir, models_dir, backend):
    st = init_store(settings_for(tmp_path, models_dir, **backend()))
    st.add_source("short", **source_kwargs(make_gallery(tmp_path / "a", lfw_dir, SHORT,
                                                        range(1, 3)), retention_days=30))
    st.add_source("long", **source_kwargs(make_gallery(tmp_path / "b", lfw_dir, LONG,
                                                       range(1, 3)), retention_days=365))
    st.ingest("short", workers=1)
    st.ingest("long", workers=1)
    yield st
    st.close()


def test_only_what_is_past_its_retention_is_erased_and_a_rerun_is_a_no_op(store):
    soon = datetime.now(UTC) + timedelta(days=29)
    assert expired_photos(store, soon) == {}
    later = datetime.now(UTC) + timedelta(days=31)
    short_faces = store.catalog.query(
        "SELECT f.id, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id "
        "JOIN sources s ON s.id = p.source_id WHERE s.name = 'short'")
    long_before = store.catalog.query(
        "SELECT COUNT(*) FROM photos p JOIN sources s ON s.id = p.source_id WHERE s.name='long'"
    )[0][0]
    report = run_retention(store, now=later)
    assert report.expired_photos == {"short": 4}
    assert report.photos == 4 and report.faces == len(short_faces)
    assert not store.catalog.query(
        "SELECT p.id FROM photos p JOIN sources s ON s.id = p.source_id WHERE s.name='short'")
    assert store.catalog.query(
        "SELECT COUNT(*) FROM photos p JOIN sources s ON s.id = p.source_id WHERE s.name='long'"
    )[0][0] == long_before
    assert store.check().ok
    needles = {f"face-{r[0]}": bytes(r[1]) for r in short_faces}
    assert scan(store.data_dir, needles) == {}
    erase_entry = [e for e in store.audit.entries() if e.action == "erase"][-1]
    assert erase_entry.inputs["reason"] == "retention-expired"

    again = run_retention(store, now=later)
    assert again.photos == 0 and again.erasure is None
    assert store.audit.entries()[-1].action == "retention_run"
    assert store.ingest("short", workers=1).photos == 0, "no re-collection after expiry"


def test_cli_retention_dry_run_then_run(store):
    settings = store.settings
    store.close()
    when = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    base = ["--data", str(settings.data_dir)]
    env = {"FACELEDGER_KEY_FILE": str(settings.key_file)}
    dry = CliRunner().invoke(main, [*base, "retention", "run", "--dry-run", "--now", when],
                             env=env)
    assert dry.exit_code == 0 and "would erase 8 photo(s)" in dry.output
    assert "short: 4" in dry.output and "long: 4" in dry.output
    run = CliRunner().invoke(main, [*base, "retention", "run", "--now", when], env=env)
    assert run.exit_code == 0 and "erased 8 photo(s)" in run.output
    store.__init__(settings)
    assert store.counts()["photos"] == 0 and store.check().ok
