"""Live ink for the studio: pages written a few points at a time, as plain event dicts.

No web code here: `page_events` is a generator the server advances from a worker thread,
so a dropped connection simply stops advancing it. Ink in events is `[dx, dy, pen_lift]`
offsets in line heights (y up), rounded to 1e-3.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from ..ink import Ink
from ..layout import wrap_text
from ..reader import InkReader
from ..sample import WRITING, SampleConfig, Writer, draw, lean
from ..styles import load_style
from ..text_model import TextModel
from ..unprompted import POINTS_PER_CHAR, draft_texts
from ..writing import (
    LINE_WIDTH,
    SPOILED_TRIES,
    resolve_style,
    spoiled,
    write_lines_together,
)

CHUNK = 8            # points per event: small enough to look continuous
STYLES = 10          # numbered styles offered (`write --style N`)
MAX_STRENGTH = 3.0   # of a saved style's hand; 2 reads it as trained (BENCHMARKS, "Your hand")
MAX_LINES = 12       # lines a page may hold
MAX_DRAFTS = 32      # drafts per segment the reader may pick from
DRAFTS = 32          # unless asked, as `write`: a 2-line page in 1.7 s on two threads, the
# judge's CER 5.8% against 10.1% at 8 drafts in 0.9 s (docs/BENCHMARKS.md, "Drafts and bias")
MAX_NEW_LINES = 6    # lines written from nothing per request


@dataclass
class Job:
    """One validated request: write `lines` of text, or `count` new lines from nothing."""

    lines: list[str]
    count: int
    seed: int
    bias: float
    style: int | str | None = None
    drafts: int = 1
    strength: float = WRITING.style_strength  # of a saved style's hand (`Writer.style_of`)
    notice: str = ""    # what of the pasted text was changed to write it (`Writer.writable`)
    width: int = LINE_WIDTH  # characters in a line from nothing at most: fewer on a phone


class Models:
    """The models (shipped unless given), loaded on first use and shared by every request."""

    def __init__(self, synthesis: str | Path | None = None,
                 text_model: str | Path | None = None, reader: str | Path | None = None):
        self.paths = synthesis, text_model, reader
        self.styles: dict[int, tuple[Writer, Ink | None, str]] = {}

    @cached_property
    def synthesis(self) -> Writer:
        return Writer.load(self.paths[0], synthesis=True)

    @cached_property
    def sample(self) -> Writer:  # From nothing writes as `sample` does, unless given a model
        return Writer.load(self.paths[0] or "sample")

    @cached_property
    def text_model(self) -> TextModel:
        return TextModel.load(self.paths[1])

    @cached_property
    def reader(self) -> InkReader:
        return InkReader.load(self.paths[2])

    def style(self, style: int | str, strength: float = WRITING.style_strength
              ) -> tuple[Writer, Ink | None, str]:
        """A style's writer, primer and its text (`resolve_style`); a numbered one is made once (it
        takes a few seconds), a saved one read each time (it may have changed), at `strength`."""
        if isinstance(style, str):
            return resolve_style(self.synthesis, style, replace(WRITING, style_strength=strength))
        if style not in self.styles:
            self.styles[style] = resolve_style(self.synthesis, style, WRITING, self.reader)
        return self.styles[style]


def parse_job(request: dict, models: Models, max_text: int) -> Job:
    """A Job from the page's JSON, or a ValueError saying what is wrong, in one line."""
    def number(key: str, kind: type, default, low, high):
        value = request.get(key, default)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or kind is int and value != int(value):
            raise ValueError(f"{key} must be {'a whole number' if kind is int else 'a number'}")
        if not low <= value <= high:
            raise ValueError(f"{key} must be between {low} and {high}, got {value}")
        return kind(value)

    mode = request.get("mode")
    seed = number("seed", int, None, 0, 2**31 - 1)
    seed = random.randrange(100_000) if seed is None else seed
    width = number("width", int, LINE_WIDTH, 10, 80)
    if mode == "sample":
        return Job([], number("lines", int, 3, 1, MAX_NEW_LINES), seed,
                   number("bias", float, 0.5, 0.0, 10.0), width=width)
    if mode != "write":
        raise ValueError("mode must be 'write' or 'sample'")
    text = request.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("type some text to write")
    if len(text) > max_text:
        raise ValueError(f"the text is {len(text)} characters long; the studio writes at most "
                         f"{max_text}")
    text, notice = models.synthesis.writable(text)
    with warnings.catch_warnings(record=True) as said:  # said on the page, not the console
        warnings.simplefilter("always")
        lines = [line.text for line in wrap_text(text, width)]  # the layout `write --file` uses
    notice = "; ".join([notice] * bool(notice) + [str(w.message) for w in said])
    if len(lines) > MAX_LINES:
        raise ValueError(f"that makes {len(lines)} lines; a page holds at most {MAX_LINES}")
    style = request.get("style")
    if isinstance(style, int) and not isinstance(style, bool):
        style = number("style", int, None, 0, STYLES - 1)
    elif style in (None, ""):
        style = None
    else:
        style = str(style)
        load_style(style)  # a clear error now rather than mid-page
    return Job(lines, 0, seed, number("bias", float, WRITING.bias, 0.0, 10.0), style,
               number("drafts", int, DRAFTS, 1, MAX_DRAFTS),
               number("strength", float, WRITING.style_strength, 0.0, MAX_STRENGTH), notice)


def page_events(models: Models, job: Job) -> Iterator[dict]:
    """Events for a whole page: `start`, then `points` per chunk and line, then `done`.

    With more than one draft (`drafts`, times `style_drafts` in a saved style, as `write`
    counts them) the live page is followed by a `line` event per line: the line again, grown
    segment by segment from the draft the reader reads best, all lines in one batch
    (`write_lines_together`).
    """
    generator = torch.Generator().manual_seed(job.seed)
    if not job.lines:  # new lines from nothing, as `sample` writes them
        cfg = SampleConfig(n=job.count, bias=job.bias,  # drafts at most job.width characters
                           max_points=min(SampleConfig.max_points, POINTS_PER_CHAR * job.width))
        texts = draft_texts(models.text_model, models.sample, cfg, generator)
        yield {"type": "start", "seed": job.seed, "lines": texts}
        for i, text in enumerate(texts):
            yield from live_line(models.sample, cfg, i, text, None, "", generator)
        yield {"type": "done"}
        return
    yield {"type": "start", "seed": job.seed, "lines": job.lines,
           **({"notice": job.notice} if job.notice else {})}
    writer, primer, primer_text = (models.style(job.style, job.strength) if job.style is not None
                                   else (models.synthesis, None, ""))
    prefix = primer_text + " " if primer is not None else ""
    cfg = replace(WRITING, bias=job.bias, seed=job.seed, candidates=job.drafts)
    if isinstance(job.style, str):  # a saved style: a person's hand, as `write` writes it
        cfg = cfg.in_persons_hand()
    for i, text in enumerate(job.lines):
        yield from live_line(writer, cfg, i, text, primer, prefix, generator)
    if cfg.candidates > 1:  # one batch for all lines: at a few drafts a step costs what one does
        inks = write_lines_together(writer, job.lines, cfg, primer, prefix, models.reader,
                                    generator)
        for i, ink in enumerate(inks):
            yield {"type": "line", "line": i, "points": rounded(ink.strokes)}
    yield {"type": "done"}


def live_line(writer: Writer, cfg: SampleConfig, index: int, text: str | None,
              primer: Ink | None, prefix: str, generator: torch.Generator,
              retries: int = SPOILED_TRIES - 1) -> Iterator[dict]:
    """One line as the model writes it, CHUNK points per event (batch 1, no drafts).

    Every `cfg.segment` points the line so far is checked as `write` checks its drafts
    (`writing.spoiled`): a segment that slipped or scribbled is taken back (a `line` event
    with the line before it) and drawn again from where it began, up to `retries` times.
    In a writer's style, the whole line comes again leaned toward their slant (`lean`).
    """
    pen, texts = None, [text] if text else None
    kept, tries = np.zeros((0, 3), np.float32), 0
    while len(kept) < cfg.max_points:
        start, segment, drawn, finished = pen, [], 0, False
        while not finished and drawn < cfg.segment and len(kept) + drawn < cfg.max_points:
            room = cfg.max_points - len(kept) - drawn
            chunk = replace(cfg, n=1, max_points=min(CHUNK, room))
            (ink,), _, pen = draw(writer, chunk, texts, primer, prefix, generator, pen)
            finished = bool(texts) and ink.meta["finished"]
            if not finished and room > len(ink):
                ink.strokes[-1, 2] = float(pen.point[0, 2])  # draw lifts the pen at a chunk's end
            segment.append(ink.strokes)
            drawn += len(ink)
            yield {"type": "points", "line": index, "points": rounded(ink.strokes)}
        line = np.concatenate([kept, *segment])
        if tries < retries and spoiled(Ink(line)):
            tries += 1
            pen = start
            yield {"type": "line", "line": index, "points": rounded(kept)}
            continue
        kept, tries = line, 0
        if finished:
            break
    whole = Ink(kept)
    leaned = lean(writer, cfg, whole)  # toward the hand's slant, once the line is whole
    if leaned is not whole:
        yield {"type": "line", "line": index, "points": rounded(leaned.strokes)}


def rounded(strokes: np.ndarray) -> list[list[float]]:
    return np.round(strokes.astype(np.float64), 3).tolist()
