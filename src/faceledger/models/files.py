"""Model files: where they are, and whether they are the files we expect (sha256)."""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFileError


@dataclass(frozen=True)
class ModelFile:
    """One file of a model pack, relative to the models directory."""

    path: str
    sha256: str
    url: str = ""  # official home, used by ``faceledger models fetch``


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_file(models_dir: Path, spec: ModelFile) -> Path:
    """Return the absolute path of ``spec`` under ``models_dir`` after checking its sha256.
    A missing or mismatching file is a :class:`ModelFileError`, never a silent fallback."""
    path = (Path(models_dir) / spec.path).resolve()
    if not path.is_file():
        raise ModelFileError(
            f"model file {spec.path} not found under {models_dir} "
            f"(set FACELEDGER_MODELS_DIR or run 'faceledger models fetch')"
        )
    actual = file_sha256(path)
    if actual != spec.sha256:
        raise ModelFileError(
            f"model file {path} has sha256 {actual}, expected {spec.sha256}: "
            "refusing to load a file that is not the published one"
        )
    return path


def file_status(models_dir: Path, spec: ModelFile) -> str:
    """'ok', 'missing' or 'sha256 mismatch' for one file."""
    path = Path(models_dir) / spec.path
    if not path.is_file():
        return "missing"
    return "ok" if file_sha256(path) == spec.sha256 else "sha256 mismatch"


def fetch_file(models_dir: Path, spec: ModelFile, mirror: str | None = None) -> Path:
    """Download ``spec`` from ``mirror`` (a directory or URL prefix that holds the same
    relative paths) or from its official URL, verify the sha256, then move it into place."""
    target = Path(models_dir) / spec.path
    if target.is_file() and file_sha256(target) == spec.sha256:
        return target
    if mirror:
        source = mirror.rstrip("/") + "/" + spec.path
        if "://" not in source:
            source = Path(source).resolve().as_uri()
    elif spec.url:
        source = spec.url
    else:
        raise ModelFileError(f"no official URL known for {spec.path}; give a mirror")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(source, timeout=60) as resp, partial.open("wb") as out:
            shutil.copyfileobj(resp, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"cannot download {source}: {exc}") from exc
    actual = file_sha256(partial)
    if actual != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(f"{source} has sha256 {actual}, expected {spec.sha256}")
    partial.replace(target)
    return target
