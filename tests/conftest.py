"""Shared fixtures: the real datasets and models beside the project (../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceledger.config import default_datasets_dir, default_models_dir


@pytest.fixture(scope="session", autouse=True)
def _keys_outside_home(tmp_path_factory):
    """Template keys of test stores go to a temporary config dir, not ~/.config."""
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    yield
    if old is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = old


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = Path(os.environ.get("FACELEDGER_DATASETS_DIR") or default_datasets_dir())
    if not (path / "lfw" / "images").is_dir():
        pytest.skip(f"the shared datasets are not at {path} (set FACELEDGER_DATASETS_DIR)")
    return path


@pytest.fixture(scope="session")
def models_dir() -> Path:
    path = Path(os.environ.get("FACELEDGER_MODELS_DIR") or default_models_dir())
    if not (path / "yunet").is_dir():
        pytest.skip(f"the shared model files are not at {path} (set FACELEDGER_MODELS_DIR)")
    return path


@pytest.fixture(scope="session")
def lfw_dir(datasets_dir: Path) -> Path:
    return datasets_dir / "lfw"


def lfw_image(lfw_dir: Path, name: str, number: int) -> Path:
    return lfw_dir / "images" / name / f"{name}_{number:04d}.jpg"


# -- the cluster backend's services (tests/cluster_support.py) ---------------------------


@pytest.fixture(scope="session")
def pg_base() -> str:
    from tests.cluster_support import pg_base_url

    url = pg_base_url()
    if not url:
        pytest.skip("no PostgreSQL service (run scripts/services.sh up DIR and set "
                    "FACELEDGER_SERVICES_DIR=DIR)")
    return url


@pytest.fixture
def pg_url(pg_base: str):
    """A PostgreSQL URL whose search_path is a new schema, dropped after the test."""
    from tests.cluster_support import drop_schema, new_schema_name, with_schema

    schema = new_schema_name()
    yield with_schema(pg_base, schema)
    drop_schema(pg_base, schema)


@pytest.fixture(scope="session")
def _cluster(pg_base: str):
    from tests.cluster_support import ClusterBackend

    backend = ClusterBackend(pg_base)
    yield backend
    backend.cleanup()


@pytest.fixture(scope="session", params=["embedded", "cluster"])
def backend(request):
    """Which backends a test's stores use: ``embedded`` (SQLite + FAISS in the data dir) or
    ``cluster`` (PostgreSQL catalog and audit log, and Milvus vectors when that service is
    up); skipped for ``cluster`` only when no service settings exist. Call it for the
    ``Settings`` keywords of each new store: ``settings_for(..., **backend())``."""
    if request.param == "embedded":
        return dict
    cluster = request.getfixturevalue("_cluster")
    return cluster.settings_kw


def read_services_env() -> dict[str, str]:
    """The settings that ``scripts/services.sh up`` wrote ({} when it has not run)."""
    directory = Path(os.environ.get("FACELEDGER_SERVICES_DIR") or "/tmp/faceledger-services")
    path = directory / "services.env"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@pytest.fixture(scope="session")
def services_env() -> dict[str, str]:
    """The cluster servers' settings. Outside CI a test that needs them is skipped when
    they are not up; in CI (scripts/test.sh starts them) their absence is a failure."""
    env = read_services_env()
    if not env:
        message = "the cluster servers are not up (scripts/services.sh up)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return env


@pytest.fixture(scope="session")
def milvus_url(services_env: dict[str, str]) -> str:
    if "FACELEDGER_MILVUS_URL" not in services_env:
        pytest.skip("Milvus is not among the servers that are up")
    from .cluster_support import export_milvus_credentials

    export_milvus_credentials(services_env)
    return services_env["FACELEDGER_MILVUS_URL"]
