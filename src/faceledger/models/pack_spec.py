"""What a model pack is: its files, licence, thresholds, and how to build its models."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError
from .base import Detector, Recognizer
from .files import ModelFile

Builder = Callable[[dict[str, Path], "int | None"], tuple[Detector, Recognizer]]


@dataclass(frozen=True)
class PackSpec:
    name: str
    description: str
    licence: str
    files: dict[str, ModelFile]
    embedding_size: int
    input_spec: str
    # cosine-similarity thresholds keyed by the false-accept rate they give on calibration data
    thresholds: dict[float, float]
    build: Builder = field(repr=False, compare=False)
    research: bool = False
    needs_models_dir: bool = True
    flip: bool = True
    calibration: str = ""
    # Python modules the pack imports, with the install hint shown when one is missing
    python_modules: dict[str, str] = field(default_factory=dict)

    def missing_modules(self) -> list[str]:
        return [
            f"{module} ({hint})" for module, hint in self.python_modules.items()
            if importlib.util.find_spec(module) is None
        ]

    def threshold(self, far: float) -> float:
        """The threshold for ``far``; the nearest calibrated rate at or below it."""
        if far in self.thresholds:
            return self.thresholds[far]
        stricter = [f for f in self.thresholds if f <= far]
        if not stricter:
            raise ModelError(
                f"pack {self.name} has no threshold for FAR {far:g}; "
                f"calibrated: {', '.join(f'{f:g}' for f in sorted(self.thresholds))}"
            )
        return self.thresholds[max(stricter)]
