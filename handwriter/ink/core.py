"""One line of handwriting as pen offsets, its conversions, and the `lines.npz` layout.

Convention everywhere in handwriter: `strokes` is float32 `(N, 3)` of `[dx, dy, pen_lift]`,
y points UP, the first row is the offset of the first point from the origin, and
`pen_lift` is 1 on the last point of a pen-down stroke (the pen leaves the paper after it).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class InkError(ValueError):
    """Malformed ink input; the message starts with `file:line:` so users can find it."""

    def __init__(self, path: str | Path, line: int | None, what: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {what}")


@dataclass
class Ink:
    """A line (or any run) of handwriting with optional transcription and provenance.

    `strokes` is `(N, 3)`: rows of `[dx, dy, pen_lift]`, each point's offset from the one
    before, y up, and 1 where the pen lifts after the point (`from_stroke_list` makes one
    from absolute points)."""

    strokes: np.ndarray
    text: str = ""
    writer: str = ""
    contributor: str = ""
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        strokes = np.asarray(self.strokes, dtype=np.float32)
        if strokes.size == 0:
            strokes = strokes.reshape(0, 3)
        if strokes.ndim != 2 or strokes.shape[1] != 3:
            raise ValueError(f"strokes must be (N, 3) rows of [dx, dy, pen_lift], got an "
                             f"array of shape {strokes.shape}")
        self.strokes = strokes

    def __len__(self) -> int:
        return len(self.strokes)

    @property
    def points(self) -> np.ndarray:
        """Absolute `(N, 2)` pen positions, y up."""
        return offsets_to_points(self.strokes)

    @property
    def stroke_list(self) -> list[np.ndarray]:
        """The pen-down strokes as a list of absolute `(n_i, 2)` arrays."""
        return split_strokes(self.strokes)

    @classmethod
    def from_stroke_list(cls, strokes: list[np.ndarray], **kw) -> Ink:
        """An Ink of pen-down strokes, each an `(n, 2)` array of absolute x, y (y up)."""
        return cls(points_to_offsets(*join_strokes(strokes)), **kw)


def offsets_to_points(strokes: np.ndarray) -> np.ndarray:
    return np.cumsum(np.asarray(strokes, dtype=np.float64)[:, :2], axis=0)


def points_to_offsets(points: np.ndarray, pen_lift: np.ndarray) -> np.ndarray:
    """Inverse of `offsets_to_points`: the first row keeps the first point's position."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.zeros((len(points), 3), dtype=np.float32)
    out[:, :2] = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    out[:, 2] = pen_lift
    return out


def split_strokes(strokes: np.ndarray) -> list[np.ndarray]:
    points = offsets_to_points(strokes)
    ends = np.flatnonzero(strokes[:, 2] > 0.5) + 1
    return [p for p in np.split(points, ends) if len(p)]


def join_strokes(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Absolute strokes -> `(points, pen_lift)` with pen_lift on each stroke's last point."""
    strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in strokes if len(s)]
    if not strokes:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.float32)
    pen_lift = np.concatenate([np.eye(1, len(s), len(s) - 1)[0] for s in strokes])
    return np.concatenate(strokes), pen_lift.astype(np.float32)


# ---------------------------------------------------------------- the lines.npz layout

LINE_FIELDS = ("text", "writer", "contributor", "source")


def page_lines(strokes: list[np.ndarray]) -> list[list[int]]:
    """The strokes of a page of writing (points, y up, in the order written) as lines: the
    indices of each line's strokes. A stroke starts a new line when it starts left of where
    the stroke before it reached (the pen went back to the margin) and its middle lies more
    than half the line's height below the line's low ink (its 10th percentile); while a line
    has fewer than 3 strokes (a capital's first stroke), 1.5 times as far. On UNIPEN lines
    stacked 2 or 3 line heights apart this splits 90% or 97% of 3-line pages right, and 1% of
    single lines in two (docs/HISTORY.md, "Pages of ink without lines")."""
    if not strokes:
        return []
    heights = np.array([np.ptp(s[:, 1]) for s in strokes])
    tall = float(np.percentile(heights[heights > 0], 75)) if (heights > 0).any() else 0.0
    lines = [[0]]
    for i in range(1, len(strokes)):
        line = lines[-1]
        low, high = np.percentile(np.concatenate([strokes[j][:, 1] for j in line]), [10, 90])
        middle = (strokes[i][:, 1].min() + strokes[i][:, 1].max()) / 2
        below = low - middle > (0.5 if len(line) >= 3 else 1.5) * max(high - low, tall)
        if below and strokes[i][0, 0] < strokes[i - 1][:, 0].max():
            lines.append([i])
        else:
            line.append(i)
    return lines


def read_lines(path: str | Path) -> list[Ink]:
    """Read the `lines.npz` layout of ../shared (strokes int/float `[dx, dy, eos]` + offsets)."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as e:
        raise InkError(path, None, f"not a readable .npz file ({e})") from None
    with data:
        for key in ("strokes", "offsets"):
            if key not in data.files:
                raise InkError(path, None, f"missing array {key!r} (has {sorted(data.files)})")
        strokes = data["strokes"]
        offsets = data["offsets"].astype(np.int64)
        if strokes.ndim != 2 or strokes.shape[1] != 3:
            raise InkError(path, None, f"'strokes' must be (N, 3), got {strokes.shape}")
        if (len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(strokes)
                or np.any(np.diff(offsets) < 0)):
            raise InkError(path, None, "'offsets' must rise from 0 to len(strokes)")
        n = len(offsets) - 1
        columns = {}
        for key in LINE_FIELDS:
            if key in data.files:
                values = data[key]
                if len(values) != n:
                    raise InkError(path, None, f"{key!r} has {len(values)} rows, expected {n}")
                columns[key] = [str(v) for v in values]
        if "source_file" in data.files and "source" not in columns:
            columns["source"] = [str(v) for v in data["source_file"]]
        strokes = strokes.astype(np.float32)
    return [Ink(strokes[offsets[i]:offsets[i + 1]], **{k: v[i] for k, v in columns.items()})
            for i in range(n)]


def write_lines(path: str | Path, inks: list[Ink]) -> None:
    """Write inks in the `lines.npz` layout, atomically; int16 when the offsets are integral."""
    path = Path(path)
    strokes = np.concatenate([i.strokes for i in inks]) if inks else np.zeros((0, 3), np.float32)
    integral = np.all(strokes == np.round(strokes)) and np.abs(strokes).max(initial=0) < 32768
    arrays = {
        "strokes": strokes.astype(np.int16 if integral else np.float32),
        "offsets": np.concatenate([[0], np.cumsum([len(i) for i in inks])]).astype(np.int64),
    }
    for key in LINE_FIELDS:
        arrays[key] = np.array([getattr(i, key) for i in inks], dtype=str)
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def output_kind(path: str | Path, kinds: tuple[str, ...], what: str) -> str:
    """The extension of `path` (lower case, with its dot) if it is one of `kinds`, else an
    error naming the path and what `what` can be saved as: said before the work, not after."""
    kind = Path(path).suffix.lower()
    if kind not in kinds:
        raise ValueError(f"{path}: {what} can be saved as {' '.join(kinds)}, not "
                         f"{kind or '(no extension)'!r}")
    return kind


def atomic_write(path: str | Path, write) -> None:
    """Call `write(file)` on a temp file beside `path`, then rename: never half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
    except OSError as e:  # named by the file the user asked for, not by its temp file
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {path}: {e.strerror or e}") from None
    os.replace(tmp, path)
