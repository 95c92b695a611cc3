"""Adapting the synthesis network to a person's lines: more of their hand than a reading.

The style encoder (`model.StyleEncoder`) reads a line's size, slant and a few shapes; the
network can write far more of a hand than that reading gives it, since it learnt a style of
their own for each of its training writers (phase 10). `adapt` fits the style, the
numbers every layer sees (112 in the shipped model), to the person's lines by gradient
descent through the whole network, starting from the encoder's reading of them. A style,
unlike weights, can only move the network to hands like those it was trained on, so a few
short lines do not overfit, while low-rank changes of the weights learnt from the same lines
made the other lines less likely (docs/HISTORY.md). Fitted all the way, the hand is harder to read;
`AdaptConfig.share` keeps half of the way (docs/BENCHMARKS.md, "Your hand").
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
from .reader import InkReader
from .sample import Writer
from .styles import (
    check_new,
    check_style,
    load_style_weights,
    remove_style,
    save_style,
    save_style_weights,
)

ADAPT_FROM = 3  # lines from which `style add` adapts by default (docs/BENCHMARKS.md)
# The fit's small products gain little from a second thread (16 s against 22 s for 1,431
# points), and two threads with one free core spin against each other: beside a two-thread
# job they took the whole minute for 1 of the 40 steps, one thread 24 s for all of them.
FIT_THREADS = 1


@dataclass
class AdaptConfig:
    steps: int = 40             # Adam steps over all the lines (validation writers' other
                                # lines still gained at 40: docs/HISTORY.md)
    lr: float = 0.05            # Adam's learning rate for the style (before tanh)
    minutes: float = 1.0        # at most this long, whatever the steps
    share: float = 0.5          # how far the style moves from its reading to the fitted one
                                # (before tanh): halfway finds the writer about half as often
                                # as their real lines, a quarter of the way less often; its
                                # cost in legibility is bought back with drafts
                                # (`style_drafts`; docs/BENCHMARKS.md, "Your hand")


@dataclass
class Adapted:
    style: Tensor               # (S,) the fitted style, as `Writer.styled` takes it
    before: float               # the lines' nats/point in the style read from them
    after: float                # ... in the adapted one
    steps: int
    seconds: float
    read: Tensor                # (S,) the style read from the lines, before tanh
    fitted: Tensor              # (S,) fitted all the way, before tanh
    planned: int                # the steps asked for (`AdaptConfig.steps`)

    def at(self, share: float) -> Tensor:
        """The style `share` of the way from its reading to the fit (`AdaptConfig.share`)."""
        return torch.tanh(self.read + share * (self.fitted - self.read))

    @property
    def ran_out(self) -> bool:
        """Whether its time ended the fit before its planned steps did."""
        return self.steps < self.planned

    def summary(self) -> str:
        steps = (f"{self.steps} of {self.planned} steps: its time ran out" if self.ran_out
                 else f"{self.steps} steps")
        return (f"adapted in {self.seconds:.0f} s ({steps}): the network finds your lines "
                f"{self.before - self.after:.2f} nats per point likelier in the adapted style "
                f"than in the one read from them (their negative log-likelihood, lower is "
                f"likelier: {self.before:.3f} -> {self.after:.3f})")


def as_lines(writer: Writer, inks: list[Ink]) -> list[tuple]:
    """Each line as the model trained on lines: prepared strokes and the text."""
    out = []
    for number, ink in enumerate(inks, 1):
        strokes = prepared(ink, writer.resample_step, writer.max_jump)
        if strokes is None or len(strokes) < 2 or not ink.text.strip():
            raise ValueError(f"line {number} needs ink (with some height) and its "
                             "transcription")
        out.append((strokes, ink.text.strip()))
    return out


def lines_batch(writer: Writer, lines: list[tuple]) -> Batch:
    """`as_lines`' lines in one teacher-forcing batch."""
    return collate([s for s, _ in lines], [encode_text(t, writer.alphabet) for _, t in lines],
                   writer.offset_scale)


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
    batch = lines_batch(writer, lines)
    read = torch.atanh(writer.style_of(inks).clamp(-0.999, 0.999))
    raw_style = read.clone().requires_grad_()
    offset = 2 * math.log(writer.offset_scale)  # nats of unscaled offsets

    def nll_per_point() -> Tensor:
        style = torch.tanh(raw_style).expand(len(lines), -1)
        raw, _ = net(batch.strokes_in, batch.text, batch.text_mask, style=style)
        return mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask).sum() \
            / batch.mask.sum() + offset

    frozen = [p for p in net.parameters() if p.requires_grad]
    for p in frozen:  # only the style learns; the shared network stays as it is
        p.requires_grad_(False)
    optimizer = torch.optim.Adam([raw_style], lr=cfg.lr)
    deadline, steps, before, took, done = start + 60 * cfg.minutes, 0, None, 0.0, 0.0
    threads = torch.get_num_threads()
    torch.set_num_threads(FIT_THREADS)
    try:  # a step is not begun that would end past the deadline
        while steps < cfg.steps and (not steps or time.monotonic() + took < deadline):
            began = time.monotonic()
            loss = nll_per_point()
            before = float(loss.detach()) if before is None else before
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
            after = float(nll_per_point())
    finally:
        torch.set_num_threads(threads)
        for p in frozen:
            p.requires_grad_(True)
    return Adapted(torch.tanh(raw_style).detach(), before, after, steps,
                   time.monotonic() - start, read, fitted, cfg.steps)


@contextmanager
def fitting_bar(desc: str, minutes: float) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr for `adapt`'s `progress`, with the time it may take."""
    with tqdm(total=100, desc=desc, file=sys.stderr,
              bar_format="{desc} |{bar}| {elapsed} of at most " f"{minutes:g} min") as bar:
        yield lambda done: bar.update(round(100 * done) - bar.n)


def adapts(writer: Writer, inks: list[Ink]) -> bool:
    """Whether `style add` adapts to these lines by default: enough of them, and a network
    with a style input."""
    return len(inks) >= ADAPT_FROM and writer.style_net is not None


def add_style(name: str, inks: list[Ink], model: str | Path | None = None,
              cfg: AdaptConfig | None = None, replace: bool = False) -> Path:
    """Keep a person's lines as style `name`, for `write(..., style=name)`: what
    `handwriter style add` does, adapting to them from `ADAPT_FROM` lines (up to
    `cfg.minutes`). A line without `text` is read by the shipped recogniser, which misreads
    some letters, as a warning says: give the texts where you have them."""
    check_new(name, replace, "replace=True replaces it")
    unread = [i for i, ink in enumerate(inks) if not ink.text.strip()]
    if unread:
        inks = list(inks)  # the caller's lines are left as they were
        for i, text in zip(unread, InkReader.load().read([inks[i] for i in unread]),
                           strict=True):
            inks[i] = dataclasses.replace(inks[i], text=text)
            warnings.warn(f"line {i + 1} has no text; the recogniser reads it as {text!r}",
                          stacklevel=2)
    writer = Writer.load(model, synthesis=True)
    for notice in check_style(writer, inks, [f"line {i + 1}" for i in range(len(inks))]):
        warnings.warn(notice, stacklevel=2)
    return keep_style(writer, name, inks, cfg or AdaptConfig())[1]


def keep_style(writer: Writer, name: str, inks: list[Ink], cfg: AdaptConfig,
               adapt: bool = True) -> tuple[Adapted | None, Path]:
    """Save `inks` as style `name`, adapted to them where `adapts` says so (with a progress
    bar): the adaptation (None if the lines were only kept) and where they are."""
    if adapt and adapts(writer, inks):
        with fitting_bar(f"adapting to your {len(inks)} lines", cfg.minutes) as progress:
            return adapt_style(writer, name, inks, cfg, progress)
    return None, save_style(name, inks)


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
