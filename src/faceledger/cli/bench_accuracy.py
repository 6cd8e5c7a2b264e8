"""Accuracy benchmarks: verify, identify, detect, calibrate (issue: accuracy)."""

from .bench import bench  # noqa: F401
