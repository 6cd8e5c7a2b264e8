"""Model packs by name: which files, which licence, which thresholds.

A pack is a detector with five landmarks, an alignment, and a recognizer, declared as data
(:mod:`.packs`, :mod:`.packs_more`). ``load_pack`` builds its analyzer
(:func:`.assemble.build_analyzer`), verifying every file's sha256 before anything is loaded;
a research-licensed pack is only loaded when the caller acknowledges its licence explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..errors import ModelError
from . import packs, packs_more
from .assemble import build_analyzer
from .compiled_cache import CompiledCache
from .files import file_status
from .pack_spec import NetworkSpec, PackSpec

if TYPE_CHECKING:
    from .analyzer import FaceAnalyzer

@dataclass
class FileReport:
    role: str
    path: str
    sha256: str
    status: str


#: every pack faceledger knows, by name (data: the packs modules only declare them)
PACKS: Mapping[str, PackSpec] = MappingProxyType(
    {spec.name: spec for spec in (*packs.PACKS, *packs_more.PACKS)})


def available_packs() -> list[PackSpec]:
    return list(PACKS.values())


def get_pack(name: str) -> PackSpec:
    try:
        return PACKS[name]
    except KeyError:
        known = ", ".join(sorted(PACKS))
        raise ModelError(f"unknown model pack {name!r}; known packs: {known}") from None


def pack_file_reports(spec: PackSpec, models_dir: Path) -> list[FileReport]:
    return [
        FileReport(role, f.path, f.sha256, file_status(models_dir, f))
        for role, f in spec.files.items()
    ]


def load_pack(
    name: str,
    models_dir: Path,
    accept_research_licence: bool = False,
    threads: int | None = None,
    cache: CompiledCache | None = None,
) -> FaceAnalyzer:
    return load_spec(get_pack(name), models_dir, accept_research_licence, threads, cache)


def load_spec(
    spec: PackSpec,
    models_dir: Path,
    accept_research_licence: bool = False,
    threads: int | None = None,
    cache: CompiledCache | None = None,
) -> FaceAnalyzer:
    """Build the analyzer of ``spec`` (files verified, licence and modules checked;
    ``cache``: where compiled networks are kept between processes)."""
    return build_analyzer(spec, models_dir, accept_research_licence, threads, cache)


__all__ = [
    "NetworkSpec",
    "PackSpec",
    "FileReport",
    "PACKS",
    "load_spec",
    "available_packs",
    "get_pack",
    "load_pack",
    "pack_file_reports",
]
