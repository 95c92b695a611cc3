"""Text and ink onto paper: page sizes, wrapping and paragraphs, and lines placed on pages.

Pure numpy, no model: `wrap_text` turns a letter into the lines to write, `place_lines` puts
the written lines on sheets in millimetres (y down from the top-left corner), in one hand:
every line scaled to the same letter height and slant, with a small seeded wobble of
baseline, tilt and size like real writing, spaced so descenders never touch the next line.
"""

from __future__ import annotations

import math
import re
import textwrap
import warnings
from dataclasses import dataclass, field

import numpy as np

from .ink import Ink, split_strokes

# Width x height in mm. Envelopes and postcards lie landscape, as they are written on.
PAGE_SIZES = {"a4": (210.0, 297.0), "a5": (148.0, 210.0), "a6": (105.0, 148.0),
              "letter": (215.9, 279.4), "postcard": (148.0, 105.0), "dl": (220.0, 110.0),
              "c6": (162.0, 114.0)}
# The shipped model's pen advance per character, in letter heights (0.81-0.87 measured on
# its lines at bias 0.75), with a little to spare: wrapping turns mm into characters.
CHAR_WIDTH = 0.9
MAX_CHARS = 50        # the shipped model trained on lines of up to about 50 characters
TAB = 4               # spaces per tab in an indent
MAX_PAGE = 5000.0     # mm: a side longer than any plotter's bed is a typing slip
CLEARANCE = 0.3       # letter heights of blank paper kept between one line's ink and the next
MAX_WOBBLE = 5.0      # five times a person's line-to-line wobble is already a drunken page


@dataclass
class PageConfig:
    page: str = "A5"             # the sheet, when on paper: A4 A5 A6 Letter postcard DL C6,
                                 # or WxH in mm (e.g. 120x90)
    margin: float = 15.0         # mm of blank paper on every side
    letter_height: float = 3.5   # mm: a line's 10th-90th percentile height, about a small letter
    line_spacing: float = 3.0    # baseline to baseline, in letter heights (more if ink collides)
    align: str = "left"          # left, centre or right
    wobble: float = 1.0          # line-to-line variation of baseline, tilt and size; 0 = none
    landscape: bool = False      # the page turned, its long side across


@dataclass
class TextLine:
    """A line to write, with where it goes: its indent and blank lines before it."""

    text: str
    indent: int = 0         # characters from the left margin
    blank_before: int = 0   # empty lines above it


@dataclass
class Sheet:
    """One sheet of paper with its lines of ink: per line, its pen-down strokes as absolute
    (n, 2) points in mm, y down from the top-left corner."""

    width: float
    height: float
    lines: list[list[np.ndarray]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # what each line says

    @property
    def strokes(self) -> list[np.ndarray]:
        return [s for line in self.lines for s in line]


def page_size(cfg: PageConfig) -> tuple[float, float]:
    """The page's width and height in mm, checked against its margins."""
    name = cfg.page.strip().lower()
    if name in PAGE_SIZES:
        width, height = PAGE_SIZES[name]
    else:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)(?:\s*mm)?", name)
        if not match:
            raise ValueError(f"--page: unknown page size {cfg.page!r}; give one of "
                             f"{', '.join(PAGE_SIZES)} or WxH in mm (e.g. 120x90)")
        width, height = float(match[1]), float(match[2])
        if not (min(width, height) > 0 and max(width, height) <= MAX_PAGE):
            raise ValueError(f"--page: {cfg.page!r}: each side must be above 0 and at most "
                             f"{MAX_PAGE:g} mm")
    if cfg.landscape:
        width, height = max(width, height), min(width, height)
    if not cfg.letter_height > 0 or not cfg.line_spacing > 0:
        raise ValueError(f"--letter-height and --line-spacing must be above 0, got "
                         f"{cfg.letter_height:g} and {cfg.line_spacing:g}")
    if not 0 <= cfg.wobble <= MAX_WOBBLE:
        raise ValueError(f"--wobble must be between 0 and {MAX_WOBBLE:g}, got {cfg.wobble:g}")
    if not cfg.margin >= 0:
        raise ValueError(f"--margin must be 0 mm or more, got {cfg.margin:g}")
    if not 2 * cfg.margin < min(width, height):
        raise ValueError(f"--margin: {cfg.margin:g} mm leaves no room to write on a "
                         f"{width:g}x{height:g} mm page")
    if not 2 * cfg.margin + 2 * cfg.letter_height < min(width, height):
        raise ValueError(f"--letter-height: letters {cfg.letter_height:g} mm high do not fit "
                         f"between the {cfg.margin:g} mm margins of a {width:g}x{height:g} mm "
                         "page")
    if cfg.align not in ("left", "centre", "right"):
        raise ValueError(f"--align: expected left, centre or right, got {cfg.align!r}")
    return width, height


def chars_per_line(cfg: PageConfig) -> int:
    """How many characters fit across the page between its margins, at most MAX_CHARS."""
    width, _ = page_size(cfg)
    return max(1, min(MAX_CHARS, int((width - 2 * cfg.margin) / (cfg.letter_height
                                                                   * CHAR_WIDTH))))


def wrap_text(text: str, width: int) -> list[TextLine]:
    """A letter's lines to write: each line of `text` is a paragraph wrapped to `width`
    characters, its leading spaces indent it, and blank lines are kept as space."""
    long = [word for word in text.split() if len(word) > width]
    if long:
        warnings.warn(f"{long[0]!r}{' and more' if len(long) > 1 else ''}: longer than a line "
                      f"of {width} characters, so split across lines (smaller letters fit "
                      "more)", stacklevel=2)
    lines, blank = [], 0
    for raw in text.expandtabs(TAB).splitlines():
        words = raw.strip()
        if not words:
            blank += 1
            continue
        indent = min(len(raw) - len(raw.lstrip()), width // 2)
        wrapped = textwrap.wrap(" " * indent + words, width, drop_whitespace=True)
        for i, line in enumerate(wrapped):
            lines.append(TextLine(line.strip(), indent if i == 0 else 0, blank if i == 0 else 0))
        blank = 0
    if not lines:
        raise ValueError("nothing to write: the text is empty")
    return lines


def place_lines(inks: list[Ink], lines: list[TextLine], cfg: PageConfig, seed: int = 0
                ) -> list[Sheet]:
    """Written lines (model units, y up) laid out on as many sheets as they need.

    Each line is levelled, set to the page's median slant and to `cfg.letter_height`, then
    wobbled a little (seeded). A line goes on the next sheet when its ink would cross the
    bottom margin; blank lines at the top of a sheet are dropped.
    """
    width, height = page_size(cfg)
    rng = np.random.default_rng(seed)
    shapes = [level(ink)[0] for ink in inks]
    slants = [slant(s) for s in shapes if s]
    page_slant = float(np.median(slants)) if slants else 0.0
    left, right = cfg.margin, width - cfg.margin
    top, bottom = cfg.margin, height - cfg.margin
    pitch = cfg.line_spacing * cfg.letter_height
    sheets = [Sheet(width, height)]
    baseline = above = None  # of the last line placed on the current sheet
    for strokes, line in zip(shapes, lines, strict=True):
        placed = in_mm(strokes, page_slant, cfg, rng) if strokes else []
        extent = np.concatenate(placed) if placed else np.zeros((1, 2))  # empty: keeps its place
        indent = line.indent * cfg.letter_height * CHAR_WIDTH
        fit = min(1.0, (right - left - indent) / max(np.ptp(extent[:, 0]), 1e-9),
                  (bottom - top) / max(np.ptp(extent[:, 1]), 1e-9))  # shrink only to fit
        extent = extent * fit
        ink_width = np.ptp(extent[:, 0])
        x = {"left": left + indent, "right": right - ink_width,
             "centre": (left + indent + right - ink_width) / 2}[cfg.align]
        placed = [s * fit + [x - extent[:, 0].min(), 0.0] for s in placed]
        profile = column_profile(placed)
        if baseline is None:
            y = top - extent[:, 1].min()
        else:
            y = baseline + pitch * (1 + line.blank_before)
            y = max(y, baseline + clearance(above, profile) + CLEARANCE * cfg.letter_height)
            if y + extent[:, 1].max() > bottom:
                sheets.append(Sheet(width, height))
                y = top - extent[:, 1].min()
        sheets[-1].lines.append([s + [0.0, y] for s in placed])
        sheets[-1].texts.append(line.text)
        baseline, above = y, profile
    return sheets


def level(ink: Ink) -> tuple[list[np.ndarray], float]:
    """A line's strokes rotated so its baseline trend is horizontal, with y = 0 at its
    10th percentile (about the baseline) and scaled to unit robust height (10th-90th
    percentile); and that height, in the ink's units."""
    strokes = split_strokes(ink.strokes)
    if not strokes:
        return [], 0.0
    points = np.concatenate(strokes)
    x, y = points[:, 0], points[:, 1]
    slope = np.polyfit(x, y, 1)[0] if np.ptp(x) > 0 and len(x) > 2 else 0.0
    turn = np.array([[1.0, slope], [-slope, 1.0]]) / np.hypot(1.0, slope)  # rotate by -atan
    centre = points.mean(0)
    strokes = [(s - centre) @ turn.T for s in strokes]
    y = np.concatenate(strokes)[:, 1]
    lo, hi = np.percentile(y, [10, 90])
    size = (hi - lo) or np.ptp(y) or 1.0
    return [(s - [0.0, lo]) / size for s in strokes], float(size)


def slant(strokes: list[np.ndarray]) -> float:
    """A line's lean dx/dy (0 = upright, > 0 = forward): the least-squares fit of dx to dy
    over its pen movements, so the upright ones count most and a shear by k adds exactly k."""
    steps = [np.diff(s, axis=0) for s in strokes if len(s) > 1]
    if not steps:
        return 0.0
    dx, dy = np.concatenate(steps).T
    return float(np.sum(dx * dy) / np.sum(dy * dy)) if np.any(dy) else 0.0


def in_mm(strokes: list[np.ndarray], page_slant: float, cfg: PageConfig,
          rng: np.random.Generator) -> list[np.ndarray]:
    """A levelled line sheared to the page's slant, scaled to mm, y down, baseline at y = 0,
    with the wobble of real writing: about 2% in size, 0.4 degrees of tilt."""
    size = cfg.letter_height * (1 + 0.02 * cfg.wobble * rng.standard_normal())
    tilt = np.radians(0.4 * cfg.wobble * rng.standard_normal())
    drift = 0.05 * cfg.wobble * rng.standard_normal()  # baseline, in letter heights
    shear = page_slant - slant(strokes)
    turn = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    out = []
    for s in strokes:
        s = np.stack([s[:, 0] + shear * s[:, 1], s[:, 1] + drift], 1) @ turn.T
        out.append(s * [size, -size])
    return out


def column_profile(strokes: list[np.ndarray], column: float = 1.0) -> dict[int, tuple]:
    """Per `column` mm of x: the highest and lowest ink (min and max y, y down)."""
    if not strokes:
        return {}
    points = np.concatenate(strokes)
    columns = np.floor(points[:, 0] / column).astype(int)
    out = {}
    for c in np.unique(columns):
        y = points[columns == c, 1]
        out[int(c)] = (float(y.min()), float(y.max()))
    return out


def clearance(above: dict, below: dict) -> float:
    """How far below the upper line's baseline the lower one's must be so their ink, column
    by column (and one column either side), does not overlap; -inf if no column is shared."""
    need = -math.inf
    for c, (top, _) in below.items():
        for near in (c - 1, c, c + 1):
            if near in above:
                need = max(need, above[near][1] - top)
    return need
