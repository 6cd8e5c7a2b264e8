"""Model packs: registry, files and sha256 checks, detectors, alignment, recognizers."""

from .analyzer import FaceAnalyzer
from .registry import PackSpec, available_packs, get_pack, load_pack

__all__ = ["FaceAnalyzer", "PackSpec", "available_packs", "get_pack", "load_pack"]
