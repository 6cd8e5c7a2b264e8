"""Typed settings, read once at an entry point and passed down.

Every setting can come from a keyword argument or an environment variable with the
``FACELEDGER_`` prefix (``FACELEDGER_DATA_DIR``, ``FACELEDGER_MODELS_DIR`` ...). Nothing here
runs at import time: :meth:`Settings.from_env` is called by the CLI, the server or a test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "FACELEDGER_"
DEFAULT_PACK = "yunet-omz0095"


def _project_root() -> Path:
    # src/faceledger/config.py -> project root (only meaningful in a source checkout)
    return Path(__file__).resolve().parents[2]


def default_models_dir() -> Path:
    """``FACELEDGER_MODELS_DIR`` when set; else ``../shared/models`` next to the working
    directory or the source checkout, when it exists; otherwise a per-user cache directory
    where ``faceledger models fetch`` puts files."""
    if os.environ.get(ENV_PREFIX + "MODELS_DIR"):
        return Path(os.environ[ENV_PREFIX + "MODELS_DIR"])
    for base in (Path.cwd(), _project_root()):
        candidate = (base / ".." / "shared" / "models").resolve()
        if candidate.is_dir():
            return candidate
    return Path.home() / ".cache" / "faceledger" / "models"


def default_datasets_dir() -> Path:
    """``FACELEDGER_DATASETS_DIR`` when set; else ``../shared/datasets`` next to the working
    directory or the source checkout."""
    if os.environ.get(ENV_PREFIX + "DATASETS_DIR"):
        return Path(os.environ[ENV_PREFIX + "DATASETS_DIR"])
    for base in (Path.cwd(), _project_root()):
        candidate = (base / ".." / "shared" / "datasets").resolve()
        if candidate.is_dir():
            return candidate
    return Path("../shared/datasets")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    models_dir: Path = field(default_factory=default_models_dir)
    pack: str = DEFAULT_PACK
    accept_research_licence: bool = False
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 80_000_000
    workers: int = max(1, min(2, os.cpu_count() or 1))
    batch_size: int = 32
    # where OpenVINO's compiled networks are kept between processes (faster starts):
    # "auto" (~/.cache/faceledger/compiled on the machine that loads the models), "off", or
    # a directory; see faceledger.models.compiled_cache
    compiled_cache: str = "auto"
    operating_far: float = 1e-4  # verify (1:1): false-accept rate of the "match" threshold
    search_far: float = 1e-5  # search (1:N): stricter, since a probe meets every gallery face
    # compare the few photos of a verification or a rights request (access, erasure, opt-out
    # by selfie) with the pack fused with a second recognizer (faceledger.models.fusion) when
    # a verb is not told either way; gallery-wide search never is
    accurate: bool = False
    index_kind: str = "auto"  # for a new store; then `faceledger index retrain --kind`
    # for a new store: where the catalog and the vectors live ("": SQLite and FAISS in the
    # data dir; else a postgresql:// and a milvus:// URL, see faceledger.store.backends)
    catalog: str = ""
    vectors: str = ""
    key_file: Path | None = None
    require_purpose: bool = True
    # refuse a search or verification whose purpose is no source's declared purpose
    # (compared without case and extra spaces); off: such searches are only flagged in
    # `faceledger report regulator`
    refuse_undeclared_purpose: bool = False
    # transfers outside the EEA, for the records of processing (Art. 30(1)(e)); empty: none
    transfers: str = ""
    # watches' webhooks (faceledger.subjects.webhooks): the only hosts a webhook may name,
    # comma-separated "host" or "host:port" (empty: no webhook is accepted); attempts per
    # alert and the first retry's delay (doubling each time); the longest watch allowed
    webhook_allowed_hosts: str = ""
    webhook_max_attempts: int = 6
    webhook_retry_base_s: float = 2.0
    watch_max_days: int = 365
    # reverse proxies in front of the server (addresses or networks, comma-separated): for
    # their requests the per-client limits use the X-Forwarded-For client (api/client_address)
    trusted_proxies: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _parse(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if "Path" in kind:
            return Path(raw).expanduser()
        if "bool" in kind:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
