"""Reader for UNIPEN on-line handwriting in the layout of the train_r01_v07 release.

A data file `root/data/<category>/<site>/....dat` pulls pen files in from `root/include/` with
`.INCLUDE` and labels ranges of pen components with `.SEGMENT TEXT a-b quality "text"`.
Components are the non-empty `.PEN_DOWN`/`.PEN_UP` blocks, numbered from 0 and again from 0
after each `.START_SET`. Points stay in raw tablet units: UNIPEN's y axis already points up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .core import Ink, InkError, join_strokes, points_to_offsets

# header keywords kept with each component: a file may change writer or units between sets
HEADER_KEYWORDS = (".WRITER_ID", ".STYLE", ".X_POINTS_PER_INCH", ".X_POINTS_PER_MM",
                   ".POINTS_PER_SECOND")
NUMERIC_KEYWORDS = (".X_POINTS_PER_INCH", ".X_POINTS_PER_MM", ".POINTS_PER_SECOND")
SEGMENT = re.compile(r'\.SEGMENT\s+(\S+)\s+(\S+)(?:\s+(\S+))?(?:\s+"(.*)")?\s*$')
BOUND = re.compile(r"(\d+)(?::(\d+))?$")  # component[:point]


@dataclass
class Component:
    """One non-empty pen block: raw `(n, 2)` points and the header in force when it began."""

    points: np.ndarray
    pen_down: bool
    header: dict


@dataclass
class Segment:
    """A `.SEGMENT TEXT` label, kept until its set is complete so it may precede the pen data."""

    path: Path
    line: int
    delineation: str
    text: str


def _cut(seg: Segment, components: list[Component], item: str
         ) -> list[tuple[Component, np.ndarray]]:
    """Points of one range `a`, `a-b` or `a:i-b:j`: `a:i` starts at point i (0-based) and `b:j`
    stops before point j, which is how `lines.npz` cut '350:38-367' and '378-391:21'."""
    start, _, end = item.strip().partition("-")
    bounds = [BOUND.match(s.strip()) for s in (start, end or start.split(":")[0])]
    if not all(bounds):
        raise InkError(seg.path, seg.line, f"can't read component range {item!r}")
    (first, skip), (last, stop) = [(int(b[1]), b[2] and int(b[2])) for b in bounds]
    if not first <= last < len(components):
        raise InkError(seg.path, seg.line, f"segment {seg.delineation!r} refers to components "
                       f"{first}-{last}; its set has {len(components)}, numbered from 0")
    out = []
    for c in range(first, last + 1):
        points = components[c].points
        lo = skip if c == first and skip is not None else 0
        hi = stop if c == last and stop is not None else len(points)
        if not 0 <= lo <= hi <= len(points):
            raise InkError(seg.path, seg.line, f"segment {seg.delineation!r} asks for points "
                           f"{lo}:{hi} of component {c}, which has {len(points)} points")
        out.append((components[c], points[lo:hi]))
    return out


def _is_point(row: list[str]) -> bool:
    try:
        float(row[0]), float(row[1])
    except (ValueError, IndexError):
        return False
    return len(row) == 2


@dataclass
class SetReader:
    """Parse state for one data file and all it includes, read as one stream of lines."""

    include_dir: Path
    header: dict = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    lines: list[tuple[Segment, dict, list[np.ndarray]]] = field(default_factory=list)

    def read(self, path: Path, including: tuple[Path, ...] = ()) -> None:
        """Feed one file; an `.INCLUDE`d file is read in place, as if pasted there."""
        with open(path, encoding="latin-1") as f:  # latin-1 never fails on stray bytes
            text = f.read().splitlines()
        block: list[tuple[int, str]] | None = None  # (line number, text) of the open pen block
        pen_down = True
        for n, line in enumerate(text, 1):
            if not line.startswith("."):
                if block is not None and line.strip():
                    block.append((n, line))
                continue  # outside a pen block: continuation text of .COMMENT, .DATA_INFO...
            if block:
                self.add_component(path, block, pen_down)
            block = None
            keyword, _, value = line.replace("\t", " ").partition(" ")
            value = value.strip()
            if keyword in (".PEN_DOWN", ".PEN_UP"):
                block, pen_down = [], keyword == ".PEN_DOWN"
            elif keyword == ".START_SET":
                self.close_set()
            elif keyword == ".SEGMENT":
                self.add_segment(path, n, line)
            elif keyword == ".INCLUDE":
                self.include(path, n, value, including + (path,))
            elif keyword in HEADER_KEYWORDS:
                self.set_header(path, n, keyword, value)
        if block:
            self.add_component(path, block, pen_down)

    def include(self, path: Path, n: int, name: str, including: tuple[Path, ...]) -> None:
        target = self.include_dir / name
        if not name or not target.is_file():
            raise InkError(path, n, f".INCLUDE of missing file {str(target)!r}")
        if target in including:
            raise InkError(path, n, f".INCLUDE of {name!r} includes itself")
        self.read(target, including)

    def set_header(self, path: Path, n: int, keyword: str, value: str) -> None:
        """Numbers become floats ('?' = unknown); a fresh dict, so components already read keep
        the header they were written under."""
        if keyword in NUMERIC_KEYWORDS:
            try:
                value = None if value in ("", "?") else float(value.split()[0])
            except ValueError:
                raise InkError(path, n, f"expected a number after {keyword}, got {value!r}") \
                    from None
        self.header = {**self.header, keyword: None if value == "" else value}

    def add_component(self, path: Path, block: list[tuple[int, str]], pen_down: bool) -> None:
        """Columns after `x y` (time, pressure...) are dropped; a bad row is named by its line."""
        rows = [line.split()[:2] for _, line in block]
        try:
            points = np.array(rows, dtype=np.float64).reshape(len(rows), 2)
        except ValueError:  # look for the bad row only now: numpy parses the good ones fast
            n, line = next(nl for nl, row in zip(block, rows, strict=True) if not _is_point(row))
            kind = ".PEN_DOWN" if pen_down else ".PEN_UP"
            raise InkError(path, n, f"expected 'x y' after {kind}, got {line!r}") from None
        self.components.append(Component(points, pen_down, self.header))

    def add_segment(self, path: Path, n: int, line: str) -> None:
        match = SEGMENT.match(line)
        if not match:
            raise InkError(path, n, f"expected '.SEGMENT LEVEL a-b quality \"text\"', got {line!r}")
        level, delineation, _quality, text = match.groups()
        if level == "TEXT":  # a line of text; WORD, CHARACTER, PAGE... are other units
            self.segments.append(Segment(path, n, delineation, (text or "").replace('\\"', '"')))

    def close_set(self) -> None:
        """Cut the labelled points out of the finished set, as numbering restarts after it.
        Pen-up components count in the numbering but are not ink, so they are left out."""
        for seg in self.segments:
            cut = [part for item in seg.delineation.split(",")
                   for part in _cut(seg, self.components, item)]
            pieces = [points for component, points in cut if component.pen_down]
            self.lines.append((seg, cut[0][0].header, pieces))
        self.components, self.segments = [], []


def _line_ink(source: str, site: str, seg: Segment, header: dict,
              pieces: list[np.ndarray]) -> Ink | None:
    """One text line as `lines.npz` has it: first row (0, 0, pen_lift), offsets after that."""
    points, pen_lift = join_strokes(pieces)
    if not len(points):
        return None  # a label over pen-up points only: no ink to learn from
    per_inch, per_mm = header.get(".X_POINTS_PER_INCH"), header.get(".X_POINTS_PER_MM")
    if per_inch is None and per_mm is not None:
        per_inch = per_mm * 25.4
    meta = {"delineation": seg.delineation, "points_per_inch": per_inch,
            "points_per_second": header.get(".POINTS_PER_SECOND"), "style": header.get(".STYLE")}
    writer = header.get(".WRITER_ID")
    return Ink(points_to_offsets(points - points[0], pen_lift), text=seg.text,
               writer=f"{site}/{writer}" if writer else "", contributor=site, source=source,
               meta={k: v for k, v in meta.items() if v is not None})


def read_unipen(root: str | Path, category: str = "8", progress: bool = False) -> list[Ink]:
    """One Ink per `.SEGMENT TEXT` in `root/data/<category>/` (8 = text lines), raw tablet
    units, y up; `writer` is 'site/WRITER_ID' so that ids stay unique across sites.

    `root` may also be one data file: its `.INCLUDE`s come from the release it lies in, or
    from its own folder when it lies in none."""
    root = Path(root)
    if root.is_file():
        release = next((p for p in root.parents
                        if root.is_relative_to(p / "data") and (p / "include").is_dir()), None)
        if release is None:
            return _file_inks(root, root.parent, root.as_posix(), "")
        inside = root.relative_to(release / "data").parts  # category, site, ..., file
        return _file_inks(root, release / "include", root.relative_to(release).as_posix(),
                          inside[1] if len(inside) > 2 else "")
    data_dir = root / "data" / category
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no UNIPEN data directory {data_dir}: give the release's "
                                f"root folder, which holds data/ and include/, or one of "
                                f"its .dat files")
    return [ink for path in tqdm(sorted(data_dir.rglob("*.dat")), desc="unipen", unit="file",
                                 disable=not progress)
            for ink in _file_inks(path, root / "include", path.relative_to(root).as_posix(),
                                  path.relative_to(data_dir).parts[0])]


def _file_inks(path: Path, include_dir: Path, source: str, site: str) -> list[Ink]:
    """The text lines of one data file (see `read_unipen`)."""
    reader = SetReader(include_dir)
    reader.read(path)
    reader.close_set()
    inks = (_line_ink(source, site, seg, header, pieces) for seg, header, pieces in reader.lines)
    return [ink for ink in inks if ink is not None]
