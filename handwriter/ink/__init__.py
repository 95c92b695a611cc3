"""Stroke data: the `Ink` line model and readers/writers for the formats people hold ink in."""

from .core import (
    Ink,
    InkError,
    atomic_write,
    join_strokes,
    offsets_to_points,
    points_to_offsets,
    read_lines,
    split_strokes,
    write_lines,
)

__all__ = [
    "Ink",
    "InkError",
    "atomic_write",
    "join_strokes",
    "offsets_to_points",
    "points_to_offsets",
    "read_lines",
    "split_strokes",
    "write_lines",
]
