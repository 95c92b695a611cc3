"""Adapting the synthesis network to a person's lines: more of their hand than a reading.

The style encoder (`model.StyleEncoder`) reads a line's size, slant and a few shapes; the
network can write far more of a hand than that reading gives it, since it learnt a style of
their own for each of its training writers (phase 10). `adapt` fits the style, the
numbers every layer sees (48 in the shipped model), to the person's lines by gradient
descent through the whole network, starting from the encoder's reading of them. A style,
unlike weights, can only move the network to hands like those it was trained on, so a few
short lines do not overfit, while low-rank changes of the weights learnt from the same lines
made the other lines less likely (docs/HISTORY.md). Fitted all the way, the hand is harder to read;
`AdaptConfig.share` keeps a quarter of the way (docs/BENCHMARKS.md, "Your hand").
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from .data import (
    PRIMER_POINTS,
    Batch,
    collate,
    collate_primed,
    encode_text,
    prepared,
    with_primers,
)
from .ink import Ink
from .model import mixture_nll, split_mixture
from .sample import SampleConfig, Writer, generate
from .styles import load_style_weights, remove_style, save_style, save_style_weights

ADAPT_FROM = 3  # lines from which `style add` adapts by default (docs/BENCHMARKS.md)
PLAIN_PER_STEP = 2  # lines of the plain hand a contrastive step scores (`with_plain_hand`)


@dataclass
class AdaptConfig:
    steps: int = 40             # Adam steps over all the lines (validation writers' other
                                # lines still gained at 40: docs/HISTORY.md)
    lr: float = 0.05            # Adam's learning rate for the style (before tanh)
    minutes: float = 1.0        # at most this long, whatever the steps
    share: float = 0.25         # how far the style moves from its reading to the fitted one
                                # (before tanh): a quarter of the way finds more of the hand
                                # than the reading at less cost in legibility than further
                                # (docs/BENCHMARKS.md, "Your hand")
    contrast: float = 0.0       # the fit also makes the network's own plain hand (the same
                                # texts written with no style) this much less likely per
                                # point, so that it moves toward what sets the person apart
                                # (docs/HISTORY.md, "A fit that tells the writer from others")


@dataclass
class Adapted:
    style: Tensor               # (S,) the fitted style, as `Writer.styled` takes it
    before: float               # the lines' nats/point in the style read from them
    after: float                # ... in the adapted one
    steps: int
    seconds: float
    read: Tensor                # (S,) the style read from the lines, before tanh
    fitted: Tensor              # (S,) fitted all the way, before tanh

    def at(self, share: float) -> Tensor:
        """The style `share` of the way from its reading to the fit (`AdaptConfig.share`)."""
        return torch.tanh(self.read + share * (self.fitted - self.read))

    def summary(self) -> str:
        return (f"adapted in {self.seconds:.0f} s ({self.steps} steps): your lines "
                f"{self.before:.3f} -> {self.after:.3f} nats/point")


def as_line(writer: Writer, ink: Ink) -> tuple | None:
    """The line as the model trained on lines: prepared strokes and the text; None if it
    lacks either."""
    strokes = prepared(ink, writer.resample_step, writer.max_jump)
    if strokes is None or len(strokes) < 2 or not ink.text.strip():
        return None
    return strokes, ink.text.strip()


def as_lines(writer: Writer, inks: list[Ink]) -> list[tuple]:
    """Each line `as_line`, or an error naming the first that lacks ink or text."""
    out = [as_line(writer, ink) for ink in inks]
    if None in out:
        raise ValueError(f"line {out.index(None) + 1} needs ink (with some height) and its "
                         "transcription")
    return out


def lines_batch(writer: Writer, lines: list[tuple]) -> Batch:
    """`as_lines`' lines in one teacher-forcing batch."""
    return collate([s for s, _ in lines], [encode_text(t, writer.alphabet) for _, t in lines],
                   writer.offset_scale)


def with_plain_hand(writer: Writer, lines: list[tuple], per_step: int) -> list[Batch]:
    """Batches of `lines` and, in turn, `per_step` of their texts in the network's own hand
    (no style, no bias, seed 0), cut to the longest of `lines`: a step then costs about as
    many pen steps as without them."""
    plain = Writer(writer.style_net, writer.checkpoint)
    texts = ["".join(c for c in text if c in writer.alphabet) for _, text in lines]
    inks, _ = generate(plain, SampleConfig(bias=0.0), [t for t in texts if t.strip()])
    longest = max(len(strokes) for strokes, _ in lines)
    theirs = [(line[0][:longest], line[1]) for line in map(partial(as_line, writer), inks)
              if line is not None]
    return [lines_batch(writer, lines + theirs[i:i + per_step])
            for i in range(0, len(theirs), per_step)]


def adapt(writer: Writer, inks: list[Ink], cfg: AdaptConfig | None = None,
          progress: Callable[[float], None] | None = None) -> Adapted:
    """The style of `inks` (each with its text) fitted to them; `progress` is told the
    share of the work done after each step."""
    cfg = cfg or AdaptConfig()
    start = time.monotonic()
    net = writer.style_net
    if net is None:
        raise ValueError("adapting needs a synthesis model with a style input")
    if not inks:
        raise ValueError("adapting needs at least one line")
    if not cfg.minutes > 0 or cfg.steps < 1:
        raise ValueError(f"adapting needs steps and time, got {cfg.steps} steps and "
                         f"{cfg.minutes} minutes")
    lines = as_lines(writer, inks)
    batches = with_plain_hand(writer, lines, PLAIN_PER_STEP) if cfg.contrast else []
    batches = batches or [lines_batch(writer, lines)]  # none of their texts writable
    contrast = cfg.contrast if len(batches[0].strokes_in) > len(lines) else 0.0
    read = torch.atanh(writer.style_of(inks).clamp(-0.999, 0.999))
    raw_style = read.clone().requires_grad_()
    offset = 2 * math.log(writer.offset_scale)  # nats of unscaled offsets

    def nll_per_point(batch: Batch) -> tuple[Tensor, Tensor]:
        """Nats per point of the person's lines, and of the plain hand's (nan if none)."""
        style = torch.tanh(raw_style).expand(len(batch.strokes_in), -1)
        raw, _ = net(batch.strokes_in, batch.text, batch.text_mask, style=style)
        nll, points = mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask), \
            batch.mask.sum(1)
        n = len(lines)  # the person's lines come first
        return (nll[:n].sum() / points[:n].sum() + offset,
                nll[n:].sum() / points[n:].sum() + offset)

    frozen = [p for p in net.parameters() if p.requires_grad]
    for p in frozen:  # only the style learns; the shared network stays as it is
        p.requires_grad_(False)
    optimizer = torch.optim.Adam([raw_style], lr=cfg.lr)
    deadline, steps, before, took, done = start + 60 * cfg.minutes, 0, None, 0.0, 0.0
    try:  # a step is not begun that would end past the deadline
        while steps < cfg.steps and (not steps or time.monotonic() + took < deadline):
            began = time.monotonic()
            own, plain = nll_per_point(batches[steps % len(batches)])
            before = float(own.detach()) if before is None else before
            loss = own - contrast * plain if contrast else own
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps, took = steps + 1, time.monotonic() - began
            done = min(1.0, max(steps / cfg.steps, (time.monotonic() - start) / (60 * cfg.minutes)))
            if progress:
                progress(done)
        if progress and done < 1:  # time ended it, a step short of the deadline
            progress(1.0)
        fitted = raw_style.detach().clone()
        with torch.no_grad():
            raw_style.copy_(read + cfg.share * (fitted - read))
            after = float(nll_per_point(batches[0])[0])
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return Adapted(torch.tanh(raw_style).detach(), before, after, steps,
                   time.monotonic() - start, read, fitted)


@contextmanager
def fitting_bar(desc: str, minutes: float) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr for `adapt`'s `progress`, with the time it may take."""
    with tqdm(total=100, desc=desc, file=sys.stderr,
              bar_format="{desc} |{bar}| {elapsed} of at most " f"{minutes:g} min") as bar:
        yield lambda done: bar.update(round(100 * done) - bar.n)


def adapt_style(writer: Writer, name: str, inks: list[Ink], cfg: AdaptConfig | None = None,
                progress: Callable[[float], None] | None = None) -> tuple[Adapted, Path]:
    """`adapt` to `inks`, then save them and the adapted style as style `name`, and where.
    Nothing is saved if adapting fails or is interrupted (`progress` may raise to stop it),
    and a failed save of the style takes its ink back."""
    cfg = cfg or AdaptConfig()
    adapted = adapt(writer, inks, cfg, progress)
    path = save_style(name, inks)
    try:
        save_style_weights(name, stored(writer, adapted, cfg))
    except BaseException:
        remove_style(name)
        raise
    return adapted, path


def stored(writer: Writer, adapted: Adapted, cfg: AdaptConfig) -> dict[str, Tensor]:
    """What is kept of an adaptation: the style, the model it fits and the share asked for."""
    return {"style": adapted.style, "model": writer.fingerprint,
            "share": torch.tensor(cfg.share)}


def adapted_style(writer: Writer, name: str, inks: list[Ink]) -> Tensor | None:
    """Saved style `name`'s adapted style for `writer`, or None if it was only read. A style
    adapted to another model (an older release's, another `--model`) would write a stranger's
    hand in this one: it is adapted again to `inks`, its lines, and saved."""
    tuned = load_style_weights(name)
    if not tuned or "style" not in tuned:
        return None
    if torch.equal(tuned.get("model", torch.zeros(0, dtype=torch.uint8)), writer.fingerprint):
        return tuned["style"].float()
    cfg = AdaptConfig(share=float(tuned.get("share", AdaptConfig.share)))
    with fitting_bar(f"style {name!r} was adapted to another model; adapting it to this one, "
                     "once", cfg.minutes) as progress:
        adapted = adapt(writer, inks, cfg, progress)
    save_style_weights(name, stored(writer, adapted, cfg))
    return adapted.style


@torch.no_grad()
def primed_nll(writer: Writer, jobs: list[tuple], batch_size: int = 32,
               first: int = 0) -> tuple[float, int]:
    """Total NLL in nats of each job's line and its points; a job is `(primer or None, line)`,
    each `(prepared strokes, text)`. The primer is written first (`data.collate_primed`), or
    for a model with a style input, gives the style; without one, the writer's style does.
    With `first`, only each line's first points are scored: before the network has seen
    much of the hand, which is where a primer can tell it most."""
    total, points = 0.0, 0
    for start in range(0, len(jobs), batch_size):
        if writer.style_net is None:
            batch = collate_primed(jobs[start:start + batch_size], writer.alphabet,
                                   writer.offset_scale)
            raw, _ = writer.net(batch.strokes_in, batch.text, batch.text_mask)
        else:
            batch = styled_batch(writer, jobs[start:start + batch_size])
            net = writer.style_net
            primed = batch.primer_mask.sum(1, keepdim=True) > 0
            style = torch.where(primed, net.encode_style(batch.primer, batch.primer_mask),
                                writer.style)
            raw, _ = net(batch.strokes_in, batch.text, batch.text_mask, style=style)
        mask = batch.mask * (batch.mask.cumsum(1) <= first) if first else batch.mask
        total += float(mixture_nll(split_mixture(raw), batch.strokes_out, mask).sum())
        points += int(mask.sum())
    return total + 2 * math.log(writer.offset_scale) * points, points  # unscaled offsets


def styled_batch(writer: Writer, jobs: list[tuple]) -> Batch:
    """The jobs' lines in a Batch, each primer (cut as in training) giving its style."""
    batch = lines_batch(writer, [line for _, line in jobs])
    return with_primers(batch, [None if p is None else p[0][:PRIMER_POINTS] for p, _ in jobs],
                        writer.offset_scale)
