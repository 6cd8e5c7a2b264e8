"""Ingest on a real local Ray cluster (a head node and one more worker node on loopback):
the same photos give the same catalog as a local ingest, and killing the worker node while
the run goes on loses no photo and writes none twice."""

from __future__ import annotations

import pytest

from .ingest_support import assert_same_catalog, catalog_summary, new_store, photo_folder

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from .ray_cluster import LocalCluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_MODE", "disabled")  # as the cluster (see ray_cluster.py)
    c = LocalCluster()
    try:
        ray.init(address=c.address, configure_logging=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1")
        try:
            c.wait_for_cpus(ray, 2)
        finally:
            ray.shutdown()
        yield c
    finally:
        c.stop()
        mp.undo()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, lfw_dir):
    return photo_folder(tmp_path_factory.mktemp("ray-photos"), lfw_dir, per_person=8)


@pytest.fixture(scope="module")
def local_catalog(tmp_path_factory, models_dir, photos):
    st = new_store(tmp_path_factory.mktemp("local"), models_dir, photos)
    report = st.ingest("events", workers=1)
    summary = catalog_summary(st)
    st.close()
    return report, summary


def _counts(r):
    return (r.photos, r.faces, r.errors, r.duplicates)


def test_ray_ingest_gives_the_local_catalog(tmp_path, models_dir, photos, cluster,
                                            local_catalog):
    local, summary = local_catalog
    st = new_store(tmp_path, models_dir, photos, batch_size=8)
    report = st.ingest("events", ray=cluster.address)
    assert report.status == "completed"
    assert _counts(report) == _counts(local)
    assert_same_catalog(catalog_summary(st), summary)
    again = st.ingest("events", ray=cluster.address)  # resumable: nothing read twice
    assert (again.photos, again.skipped) == (0, local.photos)
    st.close()


def test_a_worker_node_killed_mid_run_loses_nothing(tmp_path, models_dir, photos, cluster,
                                                    local_catalog):
    local, summary = local_catalog
    st = new_store(tmp_path, models_dir, photos, batch_size=4)
    killed: list[int] = []

    def progress(state) -> None:
        if not killed and state.done >= 8:  # the first photos are written: kill the node
            cluster.worker.kill()
            killed.append(state.done)

    report = st.ingest("events", ray=cluster.address, progress=progress)
    assert killed and killed[0] < local.photos, "the node was not killed mid-run"
    assert report.status == "completed"
    assert _counts(report) == _counts(local)  # every photo once: none lost, none twice
    assert_same_catalog(catalog_summary(st), summary)
    st.close()
