"""Writing text legibly: lines grown a segment at a time from the best of many drafts.

All lines of a page grow together, one batch of drafts per segment; a draft is kept by the
shipped reader's verdict (or the window's pacing), never when the pen slipped or scribbled.
`write_sheets` wraps a letter, writes it and lays it out on paper (`layout`).
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import replace
from numbers import Integral
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from .adapt import adapted_style
from .data import MODEL_UNITS
from .ink import Ink
from .layout import PageConfig, Sheet, chars_per_line, place_lines, wrap_text
from .reader import InkReader
from .sample import WRITING, Pen, SampleConfig, Writer, draw, encode_texts, lean, start_pen
from .styles import load_style, primer_line

STYLE_TEXT = "in my hand"  # what the model writes to make a --style primer
# Limits no UNIPEN validation or test line (835) reaches, in line heights: the longest
# straight pen-down run there is 3.7; the most pen-down path in any 1.5-wide strip, per unit
# width, is 7.7. Sampled descenders may run a little longer and still read well.
SLIP = 6.0
CROWDED = 8.0
READ_BACK = 120  # points of a line before the new segment that the reader reads with it
SPOILED_TRIES = 32  # drafts of a segment drawn, at most, to find one not `spoiled`


def spoiled(ink: Ink) -> bool:
    """The pen slipped, or it scribbled in place: a draft never to keep.

    A slip is a long straight pen-down line (its chord 95% of its path); one ruins a whole
    page, as the layout then scales every line down to fit it. A scribble is a zigzag that
    crowds far more ink into a strip of the line than anyone writes.
    """
    strokes = ink.strokes.astype(np.float64)
    if len(strokes) < 2:
        return False
    points = np.cumsum(strokes[:, :2], 0)
    lifts = np.r_[0, np.cumsum(strokes[:-1, 2])]      # same value: same pen-down run
    drawn = np.r_[0, np.hypot(strokes[1:, 0], strokes[1:, 1]) * (strokes[:-1, 2] == 0)]
    path = np.cumsum(drawn)
    ahead = np.minimum(np.searchsorted(path, path + SLIP), len(path) - 1)
    chord = np.linalg.norm(points[ahead] - points, axis=1)
    straight = chord > np.maximum(0.95 * (path[ahead] - path), 0.95 * SLIP)
    if (straight & (lifts[ahead] == lifts)).any():
        return True
    middle = points[:, 0] - strokes[:, 0] / 2          # of the segment ending at each point
    per_strip = np.bincount(((middle - middle.min()) / 0.25).astype(int), weights=drawn)
    return bool(np.convolve(per_strip, np.ones(6), "valid").max() / 1.5 > CROWDED)


def pacing(phi: Tensor, x: np.ndarray, start: int, end: int) -> float:
    """How evenly the window moved over characters start..end-1, in time and on the page.

    The least of two ratios, each a least stretch of five characters over the line's mean
    (1 = perfectly even): points per character, low for a squeezed or skipped word, and the
    pen's rightward advance per character, low for words written over each other.
    """
    focus = phi[:, :end].argmax(1).numpy()           # the character each point was written for
    dwell = np.bincount(focus, minlength=end)[start:].astype(np.float64)
    chars = np.arange(start, end)
    written = dwell > 0
    if written.sum() < 2:
        return 0.0
    at = np.bincount(focus, weights=x, minlength=end)[start:][written] / dwell[written]
    advance = np.diff(np.interp(chars, chars[written], at))
    return min(least_stretch(dwell), least_stretch(advance))


def least_stretch(per_char: np.ndarray) -> float:
    width = min(5, len(per_char))
    stretch = np.convolve(per_char, np.ones(width) / width, "valid")
    return float(stretch.min() / per_char.mean()) if per_char.mean() > 0 else 0.0


def score_drafts(drafts: list[Ink], phis: list[Tensor], start: int, written: list[int],
                 reader: InkReader | None = None, read_from: list[tuple[int, int]] | None = None
                 ) -> list[float]:
    """Higher is better; -inf for a `spoiled` draft. `written[i]` characters are done.

    With a reader: how well each draft reads as the text written so far (minus CTC nats
    per character), from `read_from[i]`'s point and character on (default: the start).
    Without: `pacing`; characters before `start` are the primer's.
    """
    keep = [not spoiled(d) for d in drafts]
    if reader is not None and any(keep):
        read_from = read_from or [(0, 0)] * len(drafts)
        kept = [(d.strokes[p:], d.text[c:n]) for d, n, (p, c), k
                in zip(drafts, written, read_from, keep, strict=True) if k]
        scores = iter(-reader.nats_per_char([Ink(s, meta={"units": MODEL_UNITS}) for s, _ in kept],
                                            [t for _, t in kept]))
    else:
        scores = (pacing(phi, np.cumsum(d.strokes[:, 0], dtype=np.float64), start, start + n)
                  for d, phi, n, k in zip(drafts, phis, written, keep, strict=True) if k)
    return [float(next(scores)) if k else -math.inf for k in keep]


def read_back(line: Ink, phi: Tensor | None, start: int) -> tuple[int, int]:
    """Where the reader starts on a line about to grow by a segment: the last stroke to begin
    `READ_BACK` points or more before its end, and the character the pen was then at.

    The drafts of a segment share the line before it, so reading all of it again would
    rank them the same, at a cost that grows with the line."""
    cut = len(line) - READ_BACK
    if cut <= 0 or phi is None:
        return 0, 0
    starts = np.flatnonzero(line.strokes[:cut - 1, 2] > 0.5) + 1  # each next stroke's start
    if not len(starts):
        return 0, 0
    first = int(starts[-1])
    return first, max(int(phi[first].argmax()) - start, 0)


def write_line(writer: Writer, text: str, cfg: SampleConfig, primer: Ink | None = None,
               prefix: str = "", reader: InkReader | None = None,
               generator: torch.Generator | None = None, retries: int = 3) -> Ink:
    """One line, grown `cfg.segment` points at a time from the best of `cfg.candidates` drafts
    (see `write_lines_together`)."""
    return write_lines_together(writer, [text], cfg, primer, prefix, reader, generator,
                                retries)[0]


def write_lines_together(writer: Writer, texts: list[str], cfg: SampleConfig,
                         primer: Ink | None = None, prefix: str = "",
                         reader: InkReader | None = None,
                         generator: torch.Generator | None = None, retries: int = 3,
                         progress: bool = False) -> list[Ink]:
    """Lines grown together, `cfg.segment` points at a time, each from the best of its
    `cfg.candidates` drafts: all lines' drafts are one batch, and a finished line drops out.

    Choosing per segment rather than per line means each word gets its own chances: a
    line is only as legible as its worst word. A segment whose drafts are all spoiled is
    drawn again, `retries` times or until `SPOILED_TRIES` drafts of it were drawn if that is
    more; a line whose window never passes the end of the text within `cfg.max_points` is
    started again, up to `retries` times.
    """
    K, n = cfg.candidates, len(texts)
    if generator is None:
        generator = torch.Generator().manual_seed(cfg.seed)
    codes, text_mask, _ = encode_texts(writer, texts, prefix)
    first = start_pen(writer, n, codes, text_mask, primer)

    def empty(text: str) -> Ink:
        return Ink(np.zeros((0, 3), np.float32), text=text,
                   meta={"finished": False, "units": MODEL_UNITS})

    lines = [empty(t) for t in texts]
    phis_so_far: list[Tensor | None] = [None] * n
    pens = [first.rows([i] * K) for i in range(n)]
    redraws, starts = [0] * n, [0] * n
    most_redraws = max(retries, math.ceil(SPOILED_TRIES / K) - 1)
    active, shown = list(range(n)), [0] * n
    with tqdm(total=sum(map(len, texts)), disable=not progress, file=sys.stderr,
              desc=f"0/{n} lines", bar_format="{desc} |{bar}| {percentage:3.0f}% of the "
              "text [{elapsed}<{remaining}]") as bar:  # closed on Ctrl-C too
        while active:
            room = min(cfg.max_points - len(lines[i]) for i in active)
            segment = replace(cfg, max_points=min(cfg.segment, room))
            batch = [texts[i] for i in active for _ in range(K)]
            inks, phis, pen = draw(writer, segment, batch, None, prefix, generator,
                                   Pen.cat([pens[i] for i in active]))
            drafts, draft_phis, written = [], [], []
            for j, (ink, phi) in enumerate(zip(inks, phis, strict=True)):
                i = active[j // K]
                phi = phi[:len(ink), :len(prefix) + len(texts[i]) + 1]  # not others' padding
                if phis_so_far[i] is not None:
                    phi = torch.cat([phis_so_far[i], phi])
                drafts.append(Ink(np.concatenate([lines[i].strokes, ink.strokes]),
                                  text=texts[i], meta=ink.meta))
                draft_phis.append(phi)
                written.append(len(texts[i]) if ink.meta["finished"] else
                               min(max(int(phi[-1].argmax()) - len(prefix), 0), len(texts[i])))
            read_from = [where for i in active
                         for where in [read_back(lines[i], phis_so_far[i], len(prefix))] * K]
            scores = score_drafts(drafts, draft_phis, len(prefix), written, reader, read_from)
            for j, i in enumerate(active):
                best = j * K + int(np.argmax(scores[j * K:(j + 1) * K]))
                if scores[best] == -math.inf and redraws[i] < most_redraws:
                    redraws[i] += 1
                    continue
                lines[i], phis_so_far[i] = drafts[best], draft_phis[best]
                pens[i] = pen.rows([best] * K)
                redraws[i] = 0
                bar.update(max(written[best] - shown[i], 0))
                shown[i] = max(shown[i], written[best])
                if not lines[i].meta["finished"] and len(lines[i]) >= cfg.max_points \
                        and starts[i] < retries:  # start the line again
                    starts[i] += 1
                    lines[i], phis_so_far[i] = empty(texts[i]), None
                    pens[i] = first.rows([i] * K)
            active = [i for i in active if not lines[i].meta["finished"]
                      and len(lines[i]) < cfg.max_points]
            bar.set_description_str(f"{n - len(active)}/{n} lines")
        bar.update(bar.total - bar.n)
    for i, line in enumerate(lines):
        if not line.meta["finished"]:
            warnings.warn(f"line {i + 1} ({texts[i]!r}) stopped at {cfg.max_points} points "
                          "before its text ended; a larger --max-points gives it room",
                          stacklevel=2)
    return [lean(writer, cfg, line) for line in lines]


def write_page(writer: Writer, lines: list[str], cfg: SampleConfig,
               style: int | str | list[Ink] | None = None, primer: Ink | None = None,
               primer_text: str = "", retries: int = 3, reader: InkReader | None = None,
               progress: bool = False) -> list[Ink]:
    """Write the text lines together (`write_lines_together`), in one hand if primed.

    `style` (see `resolve_style`) primes every line, unless `primer` is given; in a real
    person's hand (a saved style or a primer) each segment has `cfg.style_drafts` times the
    drafts. (Priming with a whole first line would be simpler, but primer plus line is then
    longer than any line the model trained on, and it writes smaller and smaller.)
    """
    if primer is not None or isinstance(style, str | list):
        cfg = cfg.in_persons_hand()
    if primer is not None:
        writer, primer, primer_text = in_style(writer, primer, primer_text, cfg.style_strength)
    elif style is not None:
        writer, primer, primer_text = resolve_style(writer, style, cfg, reader)
    prefix = primer_text + " " if primer else ""
    return write_lines_together(writer, lines, cfg, primer, prefix, reader, retries=retries,
                                progress=progress)


def style_primer(writer: Writer, style: int, cfg: SampleConfig,
                 reader: InkReader | None = None) -> Ink:
    """Style N: the model's own writing of STYLE_TEXT for seed N, neater than `cfg` asks."""
    style_cfg = SampleConfig(seed=style, bias=max(cfg.bias, 1.0), max_points=cfg.max_points,
                             candidates=cfg.candidates)
    return write_page(writer, [STYLE_TEXT], style_cfg, reader=reader)[0]


def resolve_style(writer: Writer, style: int | str | list[Ink], cfg: SampleConfig,
                  reader: InkReader | None = None) -> tuple[Writer, Ink | None, str]:
    """The writer, primer and its text for a style: a number N is the model's own hand for
    seed N (`style_primer`), a name is a saved style's line that primes (`styles.primer_line`),
    a list of Inks a person's lines held in memory, each with its text (read, not adapted).

    A model with a style input reads a person's hand instead (`Writer.style_of`, from all
    their lines) and writes unprimed, so the primer is None: a real writer's line as a
    primer breaks the model, its own line does not (docs/HISTORY.md, "Priming").
    """
    if isinstance(style, str | list):
        saved = isinstance(style, str)
        inks = load_style(style) if saved else style
        line = primer_line(writer, inks, f"style {style!r}" if saved else "the style's lines")
        if writer.style_net is None:
            return writer, line, line.text.strip()
        fitted = adapted_style(writer, style, inks) if saved else None
        if fitted is None:
            fitted = writer.style_of(inks, cfg.style_strength)
        return writer.styled(fitted).leaning(inks), None, ""
    if isinstance(style, bool) or not isinstance(style, Integral):
        raise TypeError(f"style must be a number, a saved style's name or a list of Inks, "
                        f"got {type(style).__name__}")
    return writer, style_primer(writer, style, cfg, reader), STYLE_TEXT


def in_style(writer: Writer, primer: Ink | None, primer_text: str, strength: float = 1.0
             ) -> tuple[Writer, Ink | None, str]:
    """Writer, primer and text for priming with `primer`: with a style input, the writer in
    the primer's hand (at `strength`, see `Writer.style_of`) and no primer; otherwise as
    given."""
    if primer is None or writer.style_net is None:
        return writer, primer, primer_text
    return writer.styled(writer.style_of([primer], strength)).leaning([primer]), None, ""


LINE_WIDTH = 45  # characters a line without a page: the shipped model trained on up to ~50


def write(text: str, bias: float = WRITING.bias, seed: int = 0,
          style: int | str | list[Ink] | None = None, model: str | Path | None = None,
          width: int = LINE_WIDTH, style_strength: float = WRITING.style_strength) -> list[Ink]:
    """`text` in handwriting, one Ink per line of at most `width` characters (its own line
    breaks kept), by the shipped synthesis model unless `model`; `style` a number, the name
    of a saved style (`add_style`) or a person's lines (Inks with their text, read and not
    adapted, nothing saved), read at `style_strength`."""
    writer = Writer.load(model, synthesis=True)
    lines = [line.text for line in wrap_text(pasted(writer, text), width)]
    cfg = replace(WRITING, seed=seed, bias=bias, style_strength=style_strength)
    return write_page(writer, lines, cfg, style=style, reader=InkReader.load())


def style_proof(name: str, seed: int = 0, model: str | Path | None = None) -> list[Ink]:
    """Each line of saved style `name`, then its text as `write --style NAME` writes it: how
    much of the hand comes through, side by side."""
    inks = load_style(name)
    written = write_page(Writer.load(model, synthesis=True), [ink.text for ink in inks],
                         replace(WRITING, seed=seed), style=name, reader=InkReader.load())
    return [ink for pair in zip(inks, written, strict=True) for ink in pair]


def write_sheets(writer: Writer, text: str, page: PageConfig, cfg: SampleConfig,
                 style: int | str | list[Ink] | None = None, primer: Ink | None = None,
                 primer_text: str = "", reader: InkReader | None = None,
                 progress: bool = False) -> list[Sheet]:
    """A letter on paper: wrapped to the page (`layout.wrap_text`), its lines written in one
    batch (`write_page`), laid out on as many sheets as it needs (`layout.place_lines`).

    Unprimed lines each come out in a hand of their own, so a letter with neither `style`
    nor `primer` is written in style number `cfg.seed`: one hand per letter, seeded.
    """
    if style is None and primer is None:
        style = cfg.seed
    lines = wrap_text(text, chars_per_line(page))
    inks = write_page(writer, [line.text for line in lines], cfg, style, primer, primer_text,
                      reader=reader, progress=progress)
    return place_lines(inks, lines, page, seed=cfg.seed)


def write_pages(text: str, page: str | PageConfig = "A5", bias: float = WRITING.bias,
                seed: int = 0, style: int | str | list[Ink] | None = None,
                model: str | Path | None = None, progress: bool = False,
                style_strength: float = WRITING.style_strength) -> list[Sheet]:
    """`text` written on sheets of `page` (a name like "A5", "WxH" in mm, or a PageConfig),
    by the shipped models unless `model`, in `style` (as `write` takes it, read at
    `style_strength`); save them with `handwriter.save_sheets`."""
    page = PageConfig(page=page) if isinstance(page, str) else page
    cfg = replace(WRITING, seed=seed, bias=bias, style_strength=style_strength)
    writer = Writer.load(model, synthesis=True)
    return write_sheets(writer, pasted(writer, text), page, cfg, style=style,
                        reader=InkReader.load(), progress=progress)


def pasted(writer: Writer, text: str) -> str:
    """`text` as `writer` can write it (`Writer.writable`); what was changed, as a warning."""
    text, notice = writer.writable(text)
    if notice:
        warnings.warn(notice, stacklevel=3)
    return text
