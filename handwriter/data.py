"""From raw ink to training batches: normalisation, writer-disjoint splits, length buckets.

Sites record at 84 to 1270 points per inch and 10 to 200 Hz, so every line is scaled by its
own robust height and (by default) resampled to a fixed pen distance: after this, one unit
is about the height of the line's writing whatever tablet it came from.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from .ink import Ink

# ---------------------------------------------------------------- preprocessing


def robust_height(strokes: np.ndarray) -> float:
    """90th minus 10th percentile of y: the height of the writing, blind to stray points."""
    y = np.cumsum(strokes[:, 1], dtype=np.float64)
    return float(np.percentile(y, 90) - np.percentile(y, 10)) if len(y) else 0.0


def resample(strokes: np.ndarray, step: float) -> np.ndarray:
    """Resample each pen-down stroke to points `step` apart along the pen's path.

    Keeps each stroke's first and last point, so pen lifts and stroke extents survive.
    """
    points = np.cumsum(strokes[:, :2].astype(np.float64), axis=0)
    ends = np.flatnonzero(strokes[:, 2] > 0.5) + 1
    pieces, lifts = [], []
    for stroke in np.split(points, ends):
        if not len(stroke):
            continue
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
        n = max(int(round(arc[-1] / step)), 1) + 1 if len(stroke) > 1 else 1
        at = np.linspace(0.0, arc[-1], n)
        pieces.append(np.stack([np.interp(at, arc, stroke[:, 0]),
                                np.interp(at, arc, stroke[:, 1])], 1))
        lifts.append(np.eye(1, n, n - 1)[0])
    points = np.concatenate(pieces)
    out = np.zeros((len(points), 3), dtype=np.float32)
    out[:, :2] = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    out[:, 2] = np.concatenate(lifts)
    return out


def clip_jumps(strokes: np.ndarray, max_jump: float) -> np.ndarray:
    """Shorten offsets longer than `max_jump` (tablet glitches), keeping their direction."""
    length = np.hypot(strokes[:, 0], strokes[:, 1])
    factor = np.minimum(1.0, max_jump / np.maximum(length, 1e-12))
    out = strokes.copy()
    out[:, :2] *= factor[:, None]
    return out


def deskew(strokes: np.ndarray) -> np.ndarray:
    """Rotate a line so the long axis of its points (total least squares) is horizontal.

    Otherwise a sloping line measures taller, so its letters come out smaller after
    scaling, and a model learns that a drifting baseline means ever smaller writing.
    """
    points = np.cumsum(strokes[:, :2], axis=0, dtype=np.float64)
    if len(points) < 3:
        return strokes
    cov = np.cov(points.T)
    angle = 0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])
    if abs(angle) > np.pi / 4:  # taller than wide: not a line of writing, leave it be
        return strokes
    c, s = np.cos(-angle), np.sin(-angle)
    out = strokes.copy()
    out[:, 0] = c * strokes[:, 0] - s * strokes[:, 1]
    out[:, 1] = s * strokes[:, 0] + c * strokes[:, 1]
    return out


STATISTICS = ["median stroke length", "mean stroke length", "pen lifts per width",
            "ink per width", "word gaps per width", "median gap", "turning per length",
            "sharp turns per length", "ascender extent", "descender extent",
            "baseline wobble", "slant"]
# the shapes of the letters: where the pen heads (ink along each of 8 directions, east first,
# counter-clockwise), how sharply it turns, which way round, how narrow the letters are
SHAPES = [f"ink heading {d}" for d in ("E", "NE", "N", "NW", "W", "SW", "S", "SE")] + [
    "median turn", "upper quartile turn", "90th percentile turn", "turning sense",
    "vertical turns per width"]


def upright_slant(strokes: np.ndarray) -> float:
    """How far the writing leans: the mean dx/dy of the pen-down steps nearer upright than
    not (0: upright); `strokes` resampled to an even pen speed."""
    d = strokes[1:, :2][strokes[1:, 2] < 0.5]
    upright = d[np.abs(d[:, 1]) > 2 * np.abs(d[:, 0])]
    return float(np.mean(upright[:, 0] / upright[:, 1])) if len(upright) else 0.0


def slant_of(strokes: np.ndarray) -> float | None:
    """`upright_slant` of a line at `line_statistics`' pen speed; None if too small."""
    height = robust_height(strokes)
    if height <= 0 or len(strokes) < 10:
        return None
    return upright_slant(resample(strokes / [height, height, 1], 0.05))


def leaned(strokes: np.ndarray, slant: float, most: float = 0.4) -> np.ndarray:
    """`strokes` sheared (x += k y, |k| <= `most`) to lean `slant` as `slant_of` measures it,
    found by bisection: shearing also changes which steps count as upright. A line too small
    to measure (a shear leaves its height as it is) is returned as given."""
    def shear(k: float) -> np.ndarray:
        out = strokes.copy()
        out[:, 0] += k * strokes[:, 1]
        return out

    low, high = -most, most
    for _ in range(12):
        middle = (low + high) / 2
        now = slant_of(shear(middle))
        if now is None:
            return strokes
        low, high = (middle, high) if now < slant else (low, middle)
    return shear((low + high) / 2)


def line_statistics(strokes: np.ndarray, shape: bool = False) -> np.ndarray | None:
    """`STATISTICS` of one line of offsets `[dx, dy, pen_lift]`, with `shape` then `SHAPES`,
    blind to its scale and pen speed (it is scaled by its robust height and resampled
    first); None if too small.

    Most vary far more between writers than between one writer's lines: a hand in numbers
    that `bench/realism.py` compares and `model.StyleEncoder` reads as a style.
    """
    height = robust_height(strokes)
    if height <= 0 or len(strokes) < 10:
        return None
    strokes = strokes.copy()
    strokes[:, :2] /= height
    strokes = resample(strokes, 0.05)  # one pen speed for every line, real or sampled
    points = np.cumsum(strokes[:, :2], axis=0)
    ends = np.flatnonzero(strokes[:, 2] > 0.5) + 1
    pieces = [p for p in np.split(points, ends) if len(p)]
    lengths = np.array([np.hypot(*np.diff(p, axis=0).T).sum() if len(p) > 1 else 0.0
                        for p in pieces])
    width = max(float(np.ptp(points[:, 0])), 0.5)
    gaps = np.array([np.hypot(*(b[0] - a[-1])) for a, b in pairwise(pieces)] or [0.0])
    turning, heading, vertical_turns = [np.zeros(1)], [], 0  # a line of dots turns 0
    for p in pieces:
        d = np.diff(p, axis=0)
        if len(d) < 2:
            continue
        heading.append(np.arctan2(d[:, 1], d[:, 0]))
        turning.append(np.diff(np.unwrap(heading[-1])))
        vertical_turns += int((np.diff(np.sign(d[:, 1])) != 0).sum())
    signed = np.concatenate(turning)
    turning = np.abs(signed)
    sharp = int((turning > 0.6).sum())
    ink = max(lengths.sum(), 1e-6)
    y = points[:, 1]
    low, high = np.percentile(y, [10, 90])
    minima = [p[np.argmin(p[:, 1])] for p in pieces if len(p) > 2]
    wobble = 0.0
    if len(minima) > 3:
        minima = np.array(minima)
        fit = np.polyfit(minima[:, 0], minima[:, 1], 1)
        wobble = float(np.median(np.abs(minima[:, 1] - np.polyval(fit, minima[:, 0]))))
    slant = upright_slant(strokes)
    stats = [np.median(lengths), lengths.mean(), len(pieces) / width, ink / width,
             (gaps > 0.6).sum() / width, np.median(gaps), turning.sum() / ink, sharp / ink,
             np.percentile(y, 99) - high, low - np.percentile(y, 1), wobble, slant]
    if shape:
        heading = np.concatenate(heading) if heading else np.zeros(0)
        compass = np.bincount(np.round(heading / (np.pi / 4)).astype(int) % 8, minlength=8)
        stats += [*compass / max(len(heading), 1), *np.percentile(turning, [50, 75, 90]),
                  signed.sum() / max(turning.sum(), 1e-6), vertical_turns / width]
    return np.array(stats)


def prepare(ink: Ink, resample_step: float = 0.2, max_jump: float = 8.0) -> np.ndarray | None:
    """A line's training strokes, level, in units of its robust height; None if it has none.

    The first row (the offset from the origin) is dropped: a model starts at the pen.
    """
    if len(ink.strokes) < 2:
        return None
    strokes = ink.strokes.copy()
    strokes[0, :2] = 0
    strokes = deskew(strokes)
    height = robust_height(strokes)
    if height <= 0:
        return None
    strokes[:, :2] /= height
    if resample_step > 0:
        strokes = resample(strokes, resample_step)
    return clip_jumps(strokes, max_jump)[1:]


PRIMER_POINTS = 600  # a style is read from at most this many points of another line
MODEL_UNITS = "line heights"  # Ink.meta["units"] of ink already as `prepare` makes it


def prepared(ink: Ink, resample_step: float = 0.2, max_jump: float = 8.0) -> np.ndarray | None:
    """`prepare(ink)`, unless it is a model's own output, already in those units.

    Re-measuring a generated line's height would change the size of the hand.
    """
    if ink.meta.get("units") == MODEL_UNITS:
        return ink.strokes if len(ink) else None
    return prepare(ink, resample_step, max_jump)


def join_lines(first: np.ndarray, second: np.ndarray, gap: float = 1.0) -> np.ndarray:
    """Prepared strokes of `second` written on after `first`: `gap` to its right, level.

    Both lines start at the pen (see `prepare`), so one pen-up move joins them.
    """
    ends = np.cumsum(first[:, :2], axis=0, dtype=np.float64)
    starts = np.cumsum(second[:, :2], axis=0, dtype=np.float64)
    right = max(ends[:, 0].max(), 0.0) + gap - min(starts[:, 0].min(), 0.0)
    level = np.median(ends[:, 1]) - np.median(starts[:, 1])
    move = np.array([[right - ends[-1, 0], level - ends[-1, 1], 0.0]], dtype=np.float32)
    return np.concatenate([first, move, second]).astype(np.float32)


# ---------------------------------------------------------------- splits and text


def writer_split(writer: str, valid_percent: int = 5, test_percent: int = 5) -> str:
    """'train', 'valid' or 'test' from a hash of the writer: stable and writer-disjoint."""
    bucket = zlib.crc32(writer.encode("utf-8")) % 100
    if bucket < test_percent:
        return "test"
    return "valid" if bucket < test_percent + valid_percent else "train"


def pair_lines(lines: list[tuple[np.ndarray, str, str]], rng: np.random.Generator
               ) -> list[tuple[np.ndarray, str, str]]:
    """Each writer's lines two by two, the second written on after the first, texts joined.

    What priming asks of a synthesis model: carry on in the hand of the ink before it.
    """
    by_writer: dict[str, list] = {}
    for line in lines:
        if line[2]:
            by_writer.setdefault(line[2], []).append(line)
    pairs = []
    for writer in sorted(by_writer):
        own = by_writer[writer]
        order = rng.permutation(len(own))
        for a, b in zip(order[::2], order[1::2], strict=False):  # each line once
            (first, text_a, _), (second, text_b, _) = own[a], own[b]
            pairs.append((join_lines(first, second), f"{text_a} {text_b}", writer))
    return pairs


def build_alphabet(texts: list[str], min_count: int = 20) -> str:
    """Characters seen at least `min_count` times, sorted; the rest encode as unknown (0)."""
    counts = Counter("".join(texts))
    return "".join(sorted(c for c, n in counts.items() if n >= min_count))


def encode_text(text: str, alphabet: str) -> np.ndarray:
    """Character indices: 1 + position in `alphabet`, 0 for characters outside it."""
    index = {c: i + 1 for i, c in enumerate(alphabet)}
    return np.array([index.get(c, 0) for c in text], dtype=np.int64)


# ---------------------------------------------------------------- batches


@dataclass
class Batch:
    strokes_in: torch.Tensor   # (B, T, 3) previous point, a pen-lift start token first
    strokes_out: torch.Tensor  # (B, T, 3) the point to predict
    mask: torch.Tensor         # (B, T) 1 on real points
    text: torch.Tensor | None = None       # (B, U) character indices, 0-padded
    text_mask: torch.Tensor | None = None  # (B, U) 1 on real characters
    primer: torch.Tensor | None = None     # (B, P, 3) another line of each writer, scaled
    primer_mask: torch.Tensor | None = None  # (B, P) 1 on real points; a zero row: no primer
    writer: torch.Tensor | None = None     # (B,) the primer's writer (LineSet.writer_ids), or -1

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) if t is not None else None for t in
                       (self.strokes_in, self.strokes_out, self.mask, self.text, self.text_mask,
                        self.primer, self.primer_mask, self.writer)))


START = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)  # "the pen has just lifted"


def collate(lines: list[np.ndarray], texts: list[np.ndarray] | None = None,
            offset_scale: float = 1.0) -> Batch:
    """Pad lines (already prepared strokes) into a Batch; offsets divided by `offset_scale`."""
    T = max(len(s) for s in lines)
    strokes = np.zeros((len(lines), T + 1, 3), dtype=np.float32)
    mask = np.zeros((len(lines), T), dtype=np.float32)
    for i, s in enumerate(lines):
        strokes[i, 0] = START
        strokes[i, 1:len(s) + 1] = s
        mask[i, :len(s)] = 1
    strokes[:, :, :2] /= offset_scale
    strokes = torch.from_numpy(strokes)
    batch = Batch(strokes[:, :-1], strokes[:, 1:], torch.from_numpy(mask))
    if texts is not None:
        U = max(max(len(t) for t in texts), 1)
        chars = np.zeros((len(texts), U), dtype=np.int64)
        text_mask = np.zeros((len(texts), U), dtype=np.float32)
        for i, t in enumerate(texts):
            chars[i, :len(t)] = t
            text_mask[i, :len(t)] = 1
        batch.text, batch.text_mask = torch.from_numpy(chars), torch.from_numpy(text_mask)
    return batch


def pad_primers(primers: list[np.ndarray | None], offset_scale: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Style primers (prepared strokes, or None for no style) padded into `(B, P, 3)` strokes,
    offsets divided by `offset_scale`, and their `(B, P)` mask (a zero row: no primer)."""
    P = max([len(p) for p in primers if p is not None] + [1])
    strokes = np.zeros((len(primers), P, 3), dtype=np.float32)
    mask = np.zeros((len(primers), P), dtype=np.float32)
    for i, p in enumerate(primers):
        if p is not None:
            strokes[i, :len(p)] = p
            mask[i, :len(p)] = 1
    strokes[:, :, :2] /= offset_scale
    return torch.from_numpy(strokes), torch.from_numpy(mask)


def with_primers(batch: Batch, primers: list[np.ndarray | None], offset_scale: float,
                 writers: list[int] | None = None) -> Batch:
    """`batch` with each line's style primer (`pad_primers`) and the primers' writer numbers
    (-1 where there is none)."""
    batch.primer, batch.primer_mask = pad_primers(primers, offset_scale)
    if writers is not None:
        batch.writer = torch.tensor([w if p is not None else -1
                                     for w, p in zip(writers, primers, strict=True)])
    return batch


def collate_primed(jobs: list[tuple[tuple[np.ndarray, str] | None, tuple[np.ndarray, str]]],
                   alphabet: str, offset_scale: float = 1.0) -> Batch:
    """A Batch of `(primer or None, line)` jobs, each `(strokes, text)`: the line written on
    after its primer (`join_lines`, texts joined by a space), masked to score the line alone."""
    strokes, texts, skip = [], [], []
    for primer, (line, text) in jobs:
        if primer is None:
            strokes.append(line)
            texts.append(text)
            skip.append(0)
        else:
            strokes.append(join_lines(primer[0], line))
            texts.append(f"{primer[1]} {text}")
            skip.append(len(primer[0]) + 1)  # the primer and the move to the line
    batch = collate(strokes, [encode_text(t, alphabet) for t in texts], offset_scale)
    for i, n in enumerate(skip):
        batch.mask[i, :n] = 0
    return batch


class LineSet:
    """Prepared lines sorted by length, so a batch of neighbours wastes little padding.

    With `writers`, each batch also carries a style primer per line (`Batch.primer`):
    another line of the same writer, at most `primer_points` long.
    """

    def __init__(self, strokes: list[np.ndarray], texts: list[np.ndarray] | None = None,
                 writers: list[str] | None = None, primer_points: int = PRIMER_POINTS):
        order = np.argsort([len(s) for s in strokes], kind="stable")
        self.strokes = [strokes[i] for i in order]
        self.texts = [texts[i] for i in order] if texts is not None else None
        self.lengths = np.array([len(s) for s in self.strokes])
        self.primer_points = primer_points
        self.same_writer = None  # line index -> indices of the writer's other lines
        if writers is not None:
            by_writer: dict[str, list[int]] = {}
            for i, k in enumerate(order):
                by_writer.setdefault(writers[k], []).append(i)
            self.same_writer = [[j for j in by_writer[writers[k]] if j != i]
                                for i, k in enumerate(order)]
            number = {w: n for n, w in enumerate(sorted(by_writer))}
            self.writer_ids = [number[writers[k]] for k in order]  # writers numbered by name

    def primer(self, i: int, rng: np.random.Generator | None) -> np.ndarray | None:
        """Another line of line i's writer, cut to `primer_points`: at random with `rng`,
        else the writer's next line and its start (for evaluation)."""
        others = self.same_writer[i]
        if not others:
            return None
        if rng is None:
            return self.strokes[next((j for j in others if j > i), others[0])][
                :self.primer_points]
        s = self.strokes[others[int(rng.integers(len(others)))]]
        at = int(rng.integers(0, max(len(s) - self.primer_points, 0) + 1))
        return s[at:at + self.primer_points]

    def __len__(self) -> int:
        return len(self.strokes)

    def sample(self, rng: np.random.Generator, batch_size: int, max_points: int,
               offset_scale: float, crop: bool, distortion: float = 0.0,
               style_dropout: float = 0.0) -> Batch:
        """Neighbouring lines from a random place among those `max_points` long or shorter.

        With `crop`, longer lines are eligible too and cut to a random `max_points` window
        (fine without text); otherwise they are never drawn. See `distort` for `distortion`.
        With primers, a share `style_dropout` of lines gets none, so "no style" stays learnt.
        """
        eligible = len(self) if crop else max(int(np.searchsorted(self.lengths, max_points,
                                                                  side="right")), 1)
        start = int(rng.integers(0, max(eligible - batch_size, 0) + 1))
        picked = range(start, min(start + batch_size, eligible))
        lines = []
        for i in picked:
            s = self.strokes[i]
            if crop and len(s) > max_points:  # text would no longer match cropped ink
                at = int(rng.integers(0, len(s) - max_points + 1))
                s = s[at:at + max_points]
            lines.append(distort(s, rng, distortion) if distortion else s)
        texts = [self.texts[i] for i in picked] if self.texts is not None else None
        batch = collate(lines, texts, offset_scale)
        if self.same_writer is None:
            return batch
        primers = [self.primer(i, rng) if rng.random() >= style_dropout else None
                   for i in picked]
        return with_primers(batch, primers, offset_scale, [self.writer_ids[i] for i in picked])

    def in_batches(self, batch_size: int, offset_scale: float):
        """Every line once, whole, in length order: for evaluation."""
        for start in range(0, len(self), batch_size):
            stop = start + batch_size
            texts = self.texts[start:stop] if self.texts is not None else None
            batch = collate(self.strokes[start:stop], texts, offset_scale)
            if self.same_writer is not None:
                rows = range(start, min(stop, len(self)))
                batch = with_primers(batch, [self.primer(i, None) for i in rows], offset_scale,
                                     [self.writer_ids[i] for i in rows])
            yield batch


def distort(strokes: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """One random slant (x += shear * y) and stretch (x, y times e^u) per line, all |.| <= amount.

    Training on the same words as other writers might shape them: 236 writers are few.
    """
    shear, log_x, log_y = rng.uniform(-amount, amount, 3)
    out = strokes.copy()
    out[:, 0] = np.exp(log_x) * (strokes[:, 0] + shear * strokes[:, 1])
    out[:, 1] = np.exp(log_y) * strokes[:, 1]
    return out


def offset_scale_of(lines: list[np.ndarray]) -> float:
    """Standard deviation of the pen offsets, so the network sees unit-scale inputs."""
    offsets = np.concatenate([s[:, :2] for s in lines])
    return float(offsets.std())


def describe(inks: list[Ink]) -> dict:
    """Counts and spreads of a data set, for `handwriter data stats`."""
    points = np.array([len(i) for i in inks])
    chars = np.array([len(i.text) for i in inks])
    with_text = chars > 0
    return {"lines": len(inks), "writers": len({i.writer for i in inks if i.writer}),
            "points": int(points.sum()), "points_per_line": spread(points),
            "characters_per_line": spread(chars),
            "points_per_character": spread(points[with_text] / chars[with_text])}


def spread(values: np.ndarray) -> dict:
    if not len(values):
        return {}
    p = np.percentile(values, [5, 50, 95])
    return {"mean": round(float(np.mean(values)), 2), "p5": round(float(p[0]), 2),
            "median": round(float(p[1]), 2), "p95": round(float(p[2]), 2)}
