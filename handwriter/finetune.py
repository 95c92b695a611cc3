"""Fine-tuning the synthesis model to a person's own lines, on the CPU.

A model with a style input adapts the style vector itself: the encoder's reading of the
lines is the start, and the lines' likelihood moves it (a few dozen numbers).
Otherwise priming carries a hand over only as far as the network's state holds it, and
fine-tuning moves the mixture density head toward the user's ink, for the objective priming
asks of it: a line written on after another line of theirs. Only the head changes, so the
LSTMs run once and every step after that is one small matrix product.
Either way held-back lines decide whether it helped; when it did not, nothing is kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import (
    MODEL_UNITS,
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
from .sample import Writer
from .styles import load_style, save_style_weights

PARTS = {"head": ("head.weight", "head.bias"), "head-bias": ("head.bias",)}
PAYS_FROM = 5  # lines from which fine-tuning helped validation writers' other lines (HISTORY)


@dataclass
class FineTuneConfig:
    part: str = "head-bias"     # what adapts: head-bias (an offset on every mixture parameter,
                                # 121 numbers) or head (the whole output layer, 100k: on one or
                                # two lines it only overfits, see bench/priming.py)
    lr: float = 1e-3            # Adam's learning rate for the head
    style_lr: float = 0.05      # Adam's learning rate for a style (measurements: HISTORY)
    check_every: int = 1        # steps between scores of the held-back line
    patience: int = 20          # checks without a better held-back score before stopping
    min_gain: float = 0.01      # nats/point the held-back line must gain for the tuning to
                                # be kept: the best of many checks on one line flatters it,
                                # and smaller gains hurt the writer's other lines (HISTORY)


@dataclass
class FineTuned:
    tensors: dict[str, Tensor]  # adapted weights by state-dict name; {} when it did not help
    before: float               # held-back lines (each after the first line), nats/point,
                                # as shipped
    after: float                # the best the tuning reached on it (kept or not)
    steps: int
    seconds: float
    min_gain: float = 0.0       # the gain it needed

    @property
    def helped(self) -> bool:
        return bool(self.tensors)

    def summary(self) -> str:
        verdict = "it helped"
        if not self.helped:
            verdict = ("it did not help" if self.after >= self.before else
                       f"it gained less than the {self.min_gain:g} needed")
            verdict += ": keeping the shipped weights"
        return (f"fine-tuned {self.steps} steps in {self.seconds:.0f} s; held-back lines "
                f"{self.before:.3f} -> {self.after:.3f} nats/point, {verdict}")


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
    lines = [line for _, line in jobs]
    batch = collate([s for s, _ in lines], [encode_text(t, writer.alphabet) for _, t in lines],
                    writer.offset_scale)
    return with_primers(batch, [None if p is None else p[0][:PRIMER_POINTS] for p, _ in jobs],
                        writer.offset_scale)


def fine_tune(writer: Writer, lines: list[Ink], minutes: float,
              cfg: FineTuneConfig | None = None) -> FineTuned:
    """Adapt `cfg.part` to `lines` (each with its text) for at most `minutes`, stopping early.

    The last third of the lines (one at least) is held back and scored written after the
    first, as writing in the style primes; the others are trained on, each alone and each
    after the one before it. A single line is refused: nothing would be left to tell whether
    fine-tuning helped. One held-back line is a poor judge (docs/HISTORY.md, "Phase 9").
    """
    start = time.monotonic()
    cfg = cfg or FineTuneConfig()
    if len(lines) < 2:
        raise ValueError("fine-tuning needs two lines or more: one is held back to check "
                         "that it helps")
    if not minutes > 0:
        raise ValueError(f"minutes must be above 0, got {minutes}")
    if cfg.part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {cfg.part!r}")
    own = [as_line(writer, ink, i) for i, ink in enumerate(lines, 1)]
    cut = len(own) - max(len(own) // 3, 1)
    train, held = own[:cut], own[cut:]
    if writer.style_net is not None:
        return fit_style(writer, train, held, cfg, start + 60 * minutes, start)
    jobs = [(None, line) for line in train]
    if len(train) > 1:
        jobs += [(train[i - 1], line) for i, line in enumerate(train)]
    return fit_head(writer, head_inputs(writer, jobs),
                    head_inputs(writer, [(own[0], line) for line in held]), cfg,
                    start + 60 * minutes, start)


def fit_head(writer: Writer, train: tuple[Batch, Tensor], held: tuple[Batch, Tensor],
             cfg: FineTuneConfig, deadline: float, start: float) -> FineTuned:
    """Adam on `cfg.part` of the head over `train` (a Batch and its `head_inputs`) until the
    deadline or `cfg.patience` runs out, keeping the weights best on `held`; clock times
    are `time.monotonic()`'s, and the work began at `start`."""
    head = {"head.weight": writer.net.head.weight.detach().clone(),
            "head.bias": writer.net.head.bias.detach().clone()}
    offset = 2 * math.log(writer.offset_scale)  # nats of unscaled offsets, as `primed_nll`

    def nll_per_point(batch: Batch, head_in: Tensor) -> Tensor:
        raw = F.linear(head_in, head["head.weight"], head["head.bias"])
        return mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask).sum() \
            / batch.mask.sum() + offset

    kept, before, best, steps = descend({name: head[name] for name in PARTS[cfg.part]},
                                        lambda: nll_per_point(*train),
                                        lambda: nll_per_point(*held), cfg.lr, cfg, deadline)
    return FineTuned(kept, before, best, steps, time.monotonic() - start, cfg.min_gain)


def fit_style(writer: Writer, train: list[tuple], held: list[tuple], cfg: FineTuneConfig,
              deadline: float, start: float) -> FineTuned:
    """Adam on the style, starting from the encoder's reading of all the lines (`train` and
    `held`, `(strokes, text)` each: the user's style as `write` reads it), until the
    deadline or patience runs out, kept best on `held`, which it never trains on.

    An encoder of measurements has its standardised measurements tuned rather than the
    style vector: every style they give is one the network was trained on (a free vector
    fits the one line and hurts the writer's others: docs/HISTORY.md, "Priming")."""
    net = writer.style_net
    encoder = net.style_encoder
    offset = 2 * math.log(writer.offset_scale)
    train_batch = styled_batch(writer, [(None, line) for line in train])
    held_batch = styled_batch(writer, [(None, line) for line in held])
    inks = [Ink(s, text=t, meta={"units": MODEL_UNITS}) for s, t in [*train, *held]]
    if encoder.lstm is None:  # tune the measurements; the style is what they read as
        with torch.no_grad():
            start_from = encoder.standardised(encoder.summary(*writer.primers(inks))[0]).mean(0)
        as_style = encoder.read
    else:
        start_from, as_style = writer.style_of(inks), nn.Identity()
    tuned = {"style": start_from}

    def nll_per_point(batch: Batch) -> Tensor:
        raw, _ = net(batch.strokes_in, batch.text, batch.text_mask,
                     style=as_style(tuned["style"]).expand(len(batch.mask), -1))
        return mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask).sum() \
            / batch.mask.sum() + offset

    frozen = [p for p in net.parameters() if p.requires_grad]
    for p in frozen:  # only the style learns; the shared network stays as it is
        p.requires_grad_(False)
    try:
        kept, before, best, steps = descend(tuned, lambda: nll_per_point(train_batch),
                                            lambda: nll_per_point(held_batch), cfg.style_lr,
                                            cfg, deadline)
        if kept:
            with torch.no_grad():
                kept = {"style": as_style(kept["style"])}
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return FineTuned(kept, before, best, steps, time.monotonic() - start, cfg.min_gain)


def descend(tensors: dict[str, Tensor], train_loss, held_score, lr: float,
            cfg: FineTuneConfig, deadline: float) -> tuple[dict[str, Tensor], float, float, int]:
    """Adam on `tensors` (in place) against `train_loss()` until the deadline or
    `cfg.patience` checks without a better `held_score()`: the tensors best on it ({} when
    none beat the start by `cfg.min_gain`), the score before and the best, and the steps."""
    with torch.no_grad():
        before = best = float(held_score())
    optimizer = torch.optim.Adam([t.requires_grad_() for t in tensors.values()], lr=lr)
    kept, steps, stale = {}, 0, 0
    while time.monotonic() < deadline and stale < cfg.patience:
        loss = train_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        if steps % cfg.check_every:
            continue
        with torch.no_grad():
            score = float(held_score())
        if score < best:
            best, stale = score, 0
            kept = {name: t.detach().clone() for name, t in tensors.items()}
        else:
            stale += 1
    if before - best < cfg.min_gain:
        kept = {}
    return kept, before, best, steps


def fine_tune_style(name: str, minutes: float, writer: Writer | None = None) -> FineTuned:
    """`fine_tune` the shipped synthesis model (or `writer`) to saved style `name`; the weights
    are stored beside it when that helped (`styles.load_style_weights` gives them back)."""
    result = fine_tune(writer or Writer.load(synthesis=True), load_style(name), minutes)
    if result.helped:
        save_style_weights(name, result.tensors)
    return result


def as_line(writer: Writer, ink: Ink, number: int) -> tuple[np.ndarray, str]:
    """A user's line as the model trained on lines: prepared strokes and the text."""
    strokes = prepared(ink, writer.resample_step, writer.max_jump)
    if strokes is None or len(strokes) < 2 or not ink.text.strip():
        raise ValueError(f"line {number} needs ink (with some height) and its transcription")
    return strokes, ink.text.strip()


@torch.no_grad()
def head_inputs(writer: Writer, jobs: list[tuple]) -> tuple[Batch, Tensor]:
    """The jobs' Batch (`collate_primed`) and what the head sees on it, computed once."""
    batch = collate_primed(jobs, writer.alphabet, writer.offset_scale)
    return batch, writer.net.features(batch.strokes_in, batch.text, batch.text_mask)[0]
