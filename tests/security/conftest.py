"""Shared pieces of the security tests: a store on real models, real LFW photos, and an
ingest that cannot hang the test run on a FIFO."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from faceledger import Settings, init_store

from ..conftest import lfw_image

BASIS = dict(
    controller="faceledger security tests", lawful_basis="consent",
    special_category_condition="explicit-consent", purpose="security tests",
    retention_days=30, minors_policy="none-expected",
)
PEOPLE = [
    "Aaron_Peirsol", "Abdullah_Gul", "Adrien_Brody", "Al_Gore", "Alejandro_Toledo",
    "Ali_Naimi", "Alvaro_Uribe", "Amelie_Mauresmo", "Andre_Agassi", "Angela_Merkel",
    "Ann_Veneman", "Ari_Fleischer", "Ben_Affleck", "Bill_Clinton",
]


def lfw_photos(lfw_dir: Path, count: int, skip: int = 0) -> list[Path]:
    """Photo 1 of ``count`` people (after the first ``skip``): each a different person."""
    return [lfw_image(lfw_dir, name, 1) for name in PEOPLE[skip : skip + count]]


def copy_photos(lfw_dir: Path, folder: Path, count: int, skip: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for src in lfw_photos(lfw_dir, count, skip):
        shutil.copy(src, folder / src.name)
        out.append(folder / src.name)
    return out


@pytest.fixture
def new_store(tmp_path, models_dir):
    opened = []

    def make(name: str = "data"):
        store = init_store(Settings(data_dir=tmp_path / name, models_dir=models_dir, workers=1))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def photo_rows(store, source: str) -> dict[str, dict]:
    rows = store.catalog.query(
        "SELECT p.id, p.uri, p.status, p.error, p.run_id FROM photos p "
        "JOIN sources s ON s.id = p.source_id WHERE s.name = ? ORDER BY p.id", (source,)
    )
    return {r["uri"]: dict(r) for r in rows}


def ingest_within(store, name: str, timeout: float = 180, fifos: tuple[Path, ...] = ()):
    """Ingest in a thread; if it is still running after ``timeout`` (blocked on a FIFO, as
    before the fix), unblock it by opening the FIFOs for writing, then fail the test."""
    result: dict = {}

    def run() -> None:
        try:
            result["report"] = store.ingest(name, workers=1)
        except BaseException as exc:  # handed to the test below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in fifos:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        thread.join(30)
        pytest.fail(f"ingest of {name!r} was still running after {timeout} s (blocked)")
    if "error" in result:
        raise result["error"]
    return result["report"]
