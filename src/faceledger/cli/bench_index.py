"""Index benchmark (issue: scale)."""

from .bench import bench  # noqa: F401
