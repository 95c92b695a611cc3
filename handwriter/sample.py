"""Writing new ink: a lean step-by-step copy of the network, biased and primed sampling.

`Sampler.step` does the arithmetic of `HandwritingNet.forward` for one point with the
weights laid out once for inference, so no module, autograd or concatenation overhead is
paid per point; a test checks it against `forward` to 1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .data import MODEL_UNITS, START, encode_text, prepared
from .ink import Ink, InkError
from .model import (
    LOG_SIGMA_MIN,
    RHO_MAX,
    HandwritingNet,
    State,
    attend,
    load_model,
    sample_point,
    split_mixture,
)
from .reader import InkReader


@dataclass
class SampleConfig:
    n: int = 1                  # lines to write
    seed: int = 0               # same seed, same ink
    bias: float = 0.0           # Graves' sampling bias (section 5.4): higher = neater
    temperature: float = 1.0    # < 1 narrows every distribution, like a softer bias
    max_points: int = 700       # points per line (unconditional), cap for text
    candidates: int = 1         # text: drafts of each segment of a line; the best is kept
    segment: int = 120          # text: points a line grows between choices (about two words)


# Writing text wants legible ink by default: Graves' bias, and room for long lines.
WRITING = SampleConfig(bias=0.75, max_points=1500, candidates=32)


class Writer:
    """A trained model ready to write: the network, its data scale and its alphabet."""

    def __init__(self, net: HandwritingNet, checkpoint: dict):
        self.net = net
        self.offset_scale = float(checkpoint["offset_scale"])
        train_config = checkpoint.get("train_config") or {}
        self.resample_step = float(train_config.get("resample_step", 0.2))
        self.max_jump = float(train_config.get("max_jump", 8.0))
        self.checkpoint = {k: v for k, v in checkpoint.items() if k != "model"}
        self.sampler = Sampler(net)

    @property
    def alphabet(self) -> str:
        return self.net.cfg.alphabet

    @classmethod
    def load(cls, path: str | Path | None = None, synthesis: bool = False) -> Writer:
        """A checkpoint, or the model shipped in the package when `path` is None."""
        if path is None:
            name = "synthesis.pt" if synthesis else "unconditional.pt"
            path = resources.files("handwriter") / "models" / name
            if not path.is_file():
                raise FileNotFoundError(f"{path}: the shipped model is missing from the package")
        net, checkpoint = load_model(path)
        return cls(net, checkpoint)

    def check_text(self, text: str) -> np.ndarray:
        """Character indices of `text`, or an error listing the characters the model lacks."""
        if not self.alphabet:
            raise ValueError("this model writes without text (unconditional); use a "
                             "synthesis model to write given text")
        unknown = sorted(set(text) - set(self.alphabet))
        if unknown:
            raise ValueError(f"the model cannot write {''.join(unknown)!r}; it knows "
                             f"{self.alphabet!r}")
        return encode_text(text, self.alphabet)

    def prime_strokes(self, primer: Ink) -> Tensor:
        """A primer line preprocessed as in training, scaled for the network: (T, 3)."""
        strokes = prepared(primer, self.resample_step, self.max_jump)
        if strokes is None or not len(strokes):
            raise ValueError("the primer has no usable ink (it needs some height)")
        strokes = strokes.copy()
        strokes[:, :2] /= self.offset_scale
        return torch.from_numpy(strokes)


class Sampler:
    """Inference-only weights of a HandwritingNet, stepped one point at a time.

    Each LSTM's input and recurrent weights are stacked into one matrix with the gates
    reordered i, f, o, g: one matmul and one sigmoid per layer. At batch 1, the time per
    point goes mostly to per-operation overhead, so fewer operations means faster ink.
    """

    def __init__(self, net: HandwritingNet):
        self.cfg = net.cfg
        self.text_size = net.text_size
        H = net.cfg.hidden_size
        order = torch.cat([torch.arange(2 * H), torch.arange(3 * H, 4 * H),
                           torch.arange(2 * H, 3 * H)])  # torch's i, f, g, o -> i, f, o, g
        weights = []  # (W_ih, W_hh, b_ih, b_hh) per layer
        if self.text_size:
            cell = net.cell
            weights.append((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
            self.window = net.window.linear.weight.detach().T.contiguous()
            self.window_bias = net.window.linear.bias.detach()
        weights += [(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
                    for lstm in net.layers]
        self.layers = [(torch.cat([w_ih, w_hh], 1)[order].detach().T.contiguous(),  # (in + H, 4H)
                        (b_ih + b_hh)[order].detach()) for w_ih, w_hh, b_ih, b_hh in weights]
        self.head = net.head.weight.detach().T.contiguous()
        self.head_bias = net.head.bias.detach()

    @staticmethod
    def lstm(inputs: list[Tensor], h: Tensor, c: Tensor, layer: tuple) -> tuple[Tensor, Tensor]:
        weight, bias = layer
        gates = torch.addmm(bias, torch.cat([*inputs, h], 1), weight)
        H = h.shape[1]
        i, f, o = gates[:, :3 * H].sigmoid().chunk(3, 1)
        c = torch.addcmul(f * c, i, gates[:, 3 * H:].tanh())
        return o * c.tanh(), c

    @torch.inference_mode()
    def step(self, point: Tensor, state: State, chars: Tensor | None = None,
             text_mask: Tensor | None = None) -> tuple[Tensor, State, Tensor | None]:
        """One point (B, 3) -> raw head output (B, 1 + 6M), next state, window phi or None."""
        hs, cs = [], []
        phi = kappa = window = None
        skip = [point]
        for i, layer in enumerate(self.layers):
            if i == 0 and self.text_size:
                h, c = self.lstm([point, state.window], state.h[0], state.c[0], layer)
                window, kappa, phi = attend(torch.addmm(self.window_bias, h, self.window),
                                            state.kappa, chars, text_mask)
                skip = [point, window]
            else:
                h, c = self.lstm(skip + hs[-1:], state.h[i], state.c[i], layer)
            hs.append(h)
            cs.append(c)
        raw = torch.addmm(self.head_bias, torch.cat(hs + skip[1:], 1), self.head)
        return raw, State(torch.stack(hs), torch.stack(cs), kappa, window), phi

    @torch.inference_mode()
    def sample(self, raw: Tensor, bias: float, temperature: float,
               generator: torch.Generator) -> Tensor:
        """`sample_point(split_mixture(raw, bias, temperature))`, the same draws and math;
        one line is done in float64 scalars, many times fewer operations than in tensors."""
        if len(raw) > 1:
            return sample_point(split_mixture(raw, bias, temperature), generator)
        M = self.cfg.num_mixtures
        r = raw[0].double().numpy()
        u = torch.rand(1, 2, generator=generator)[0].tolist()
        weight = r[1:1 + M] * ((1 + bias) / temperature)
        weight = np.exp(weight - weight.max())
        k = min(int((np.cumsum(weight) < u[0] * weight.sum()).sum()), M - 1)
        mu_x, mu_y = r[1 + M + 2 * k:3 + M + 2 * k]
        sigma_x, sigma_y = (math.exp(max(v - bias, LOG_SIGMA_MIN)) * math.sqrt(temperature)
                            for v in r[1 + 3 * M + 2 * k:3 + 3 * M + 2 * k])
        rho = math.tanh(r[1 + 5 * M + k]) * RHO_MAX
        n = torch.randn(1, 2, generator=generator)[0].tolist()
        dx = mu_x + sigma_x * n[0]
        dy = mu_y + sigma_y * (rho * n[0] + math.sqrt(1 - rho * rho) * n[1])
        pen = u[1] < 1 / (1 + math.exp(-r[0] / temperature))
        return torch.tensor([[dx, dy, float(pen)]], dtype=raw.dtype)


class Pen(NamedTuple):
    """Where a batch of lines stands: the network state and the last point (next input)."""
    state: State
    point: Tensor

    def rows(self, index: list[int]) -> Pen:
        h, c, kappa, window = self.state
        if kappa is not None:
            kappa, window = kappa[index], window[index]
        return Pen(State(h[:, index], c[:, index], kappa, window), self.point[index])


def generate(writer: Writer, cfg: SampleConfig, texts: list[str] | None = None,
             primer: Ink | None = None, primer_text: str = "",
             generator: torch.Generator | None = None) -> tuple[list[Ink], list[Tensor]]:
    """Write `cfg.n` lines, or one per text with a synthesis model; returns inks and phis.

    A line with text ends by Graves' rule (section 5.3): when the window weight just past
    the last character exceeds every character's, with `cfg.max_points` as a cap. A primer
    (and, with text, its transcription) is run through the network first; the output
    continues from the primer's last point and holds only the new ink.
    """
    inks, phis, _ = draw(writer, cfg, texts, primer, primer_text, generator)
    return inks, phis


@torch.inference_mode()
def draw(writer: Writer, cfg: SampleConfig, texts: list[str] | None = None,
         primer: Ink | None = None, primer_text: str = "",
         generator: torch.Generator | None = None, pen: Pen | None = None
         ) -> tuple[list[Ink], list[Tensor], Pen]:
    """`generate`, also returning the pen where each line stopped; `pen` carries on from one."""
    net, sampler = writer.net, writer.sampler
    if not cfg.temperature > 0:
        raise ValueError(f"temperature must be above 0, got {cfg.temperature}")
    if cfg.max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {cfg.max_points}")
    if generator is None:
        generator = torch.Generator().manual_seed(cfg.seed)
    chars = text_mask = codes = ends = None
    if net.text_size or texts:
        if not texts:
            raise ValueError("a synthesis model needs the text to write")
        # check_text also refuses text for an unconditional model rather than ignore it
        encoded = [writer.check_text(primer_text + t) for t in texts]
        if min(len(c) for c in encoded) == 0:
            raise ValueError("nothing to write: the text is empty")
        B, U = len(texts), max(len(c) for c in encoded)
        codes = torch.zeros(B, U, dtype=torch.long)
        text_mask = torch.zeros(B, U)
        for b, c in enumerate(encoded):
            codes[b, :len(c)] = torch.from_numpy(c)
            text_mask[b, :len(c)] = 1
        chars = F.one_hot(codes, net.text_size).float()
        ends = torch.tensor([len(c) for c in encoded])
    else:
        B = cfg.n
    if pen is None:
        pen = Pen(net.initial_state(B), torch.from_numpy(START).expand(B, 3).clone())
        if primer is not None:
            strokes = writer.prime_strokes(primer)[None].expand(B, -1, -1)
            _, state = net(torch.cat([pen.point[:, None], strokes[:, :-1]], 1), codes,
                           text_mask, pen.state)
            pen = Pen(state, strokes[:, -1].clone())
    state, point = pen
    points = torch.zeros(B, cfg.max_points, 3)
    lengths = torch.full((B,), cfg.max_points)
    done = torch.zeros(B, dtype=torch.bool)
    rows = torch.arange(B)
    phis = []
    for t in range(cfg.max_points):
        raw, state, phi = sampler.step(point, state, chars, text_mask)
        point = sampler.sample(raw, cfg.bias, cfg.temperature, generator)
        points[:, t] = point
        if phi is not None:
            phis.append(phi)
            before_end = torch.where(text_mask > 0, phi[:, :-1], -1.0).max(1).values
            finished = ~done & (phi[rows, ends] > before_end)
            lengths[finished] = t + 1
            done |= finished
            if done.all():
                break
    inks = []
    for b in range(B):
        strokes = points[b, :lengths[b]].numpy().copy()
        strokes[:, :2] *= writer.offset_scale
        complete = bool(done[b]) if texts else True
        if complete:  # an unfinished line may yet be carried on from its pen
            strokes[-1, 2] = 1.0
        inks.append(Ink(strokes, text=texts[b] if texts else "",
                        meta={"finished": complete, "units": MODEL_UNITS}))
    return inks, [torch.stack([p[b] for p in phis]) for b in range(B)] if phis else [], \
        Pen(state, point)


STYLE_TEXT = "in my hand"  # what the model writes to make a --style primer
# Limits no UNIPEN validation or test line (835) reaches, in line heights: the longest
# straight pen-down run there is 3.7; the most pen-down path in any 1.5-wide strip, per unit
# width, is 7.7. Sampled descenders may run a little longer and still read well.
SLIP = 6.0
CROWDED = 8.0


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
                 reader: InkReader | None = None) -> list[float]:
    """Higher is better; -inf for a `spoiled` draft. `written[i]` characters are done.

    With a reader: how well each draft reads as the text written so far (minus CTC nats
    per character). Without: `pacing`; characters before `start` are the primer's.
    """
    keep = [not spoiled(d) for d in drafts]
    kept = [(d, n) for d, n, k in zip(drafts, written, keep, strict=True) if k]
    if reader is not None and kept:
        scores = iter(-reader.nats_per_char([d for d, _ in kept], [d.text[:n] for d, n in kept]))
    else:
        scores = (pacing(phi, np.cumsum(d.strokes[:, 0], dtype=np.float64), start, start + n)
                  for d, phi, n, k in zip(drafts, phis, written, keep, strict=True) if k)
    return [float(next(scores)) if k else -math.inf for k in keep]


def write_line(writer: Writer, text: str, cfg: SampleConfig, primer: Ink | None = None,
               prefix: str = "", reader: InkReader | None = None,
               generator: torch.Generator | None = None, retries: int = 3) -> Ink:
    """One line, grown `cfg.segment` points at a time from the best of `cfg.candidates` drafts.

    Choosing per segment rather than per line means each word gets its own chances: a
    line is only as legible as its worst word. A segment whose drafts are all spoiled is
    drawn again, and a line whose window never passes the end of the text within
    `cfg.max_points` is started again; each up to `retries` times.
    """
    K = cfg.candidates
    for _ in range(1 + retries):
        line = Ink(np.zeros((0, 3), np.float32), text=text,
                   meta={"finished": False, "units": MODEL_UNITS})
        phi_so_far, pen, redraws = None, None, 0
        while len(line) < cfg.max_points:
            segment = replace(cfg, max_points=min(cfg.segment, cfg.max_points - len(line)))
            inks, phis, pens = draw(writer, segment, [text] * K, primer, prefix, generator, pen)
            drafts = [Ink(np.concatenate([line.strokes, ink.strokes]), text=text,
                          meta=ink.meta) for ink in inks]
            phis = [phi[:len(ink)] for phi, ink in zip(phis, inks, strict=True)]
            if phi_so_far is not None:
                phis = [torch.cat([phi_so_far, phi]) for phi in phis]
            written = [len(text) if d.meta["finished"] else
                       min(max(int(phi[-1].argmax()) - len(prefix), 0), len(text))
                       for d, phi in zip(drafts, phis, strict=True)]
            scores = score_drafts(drafts, phis, len(prefix), written, reader)
            best = int(np.argmax(scores))
            if scores[best] == -math.inf and redraws < retries:
                redraws += 1
                continue
            line, phi_so_far, pen, redraws = drafts[best], phis[best], pens.rows([best] * K), 0
            if line.meta["finished"]:
                return line
    return line


def write_page(writer: Writer, lines: list[str], cfg: SampleConfig, style: int | None = None,
               primer: Ink | None = None, primer_text: str = "", retries: int = 3,
               reader: InkReader | None = None) -> list[Ink]:
    """Write each text line (`write_line`), in one hand if primed.

    `style` N primes every line with the model's own writing of STYLE_TEXT for seed N.
    (Priming with a whole first line would be simpler, but primer plus line is then
    longer than any line the model trained on, and it writes smaller and smaller.)
    """
    if cfg.candidates < 1 or cfg.segment < 1:
        raise ValueError(f"candidates and segment must be at least 1, got {cfg.candidates} "
                         f"and {cfg.segment}")
    if style is not None and primer is None:
        primer, primer_text = style_primer(writer, style, cfg, reader), STYLE_TEXT
    prefix = primer_text + " " if primer else ""
    generator = torch.Generator().manual_seed(cfg.seed)
    return [write_line(writer, line, cfg, primer, prefix, reader, generator, retries)
            for line in lines]


def style_primer(writer: Writer, style: int, cfg: SampleConfig,
                 reader: InkReader | None = None) -> Ink:
    """Style N: the model's own writing of STYLE_TEXT for seed N, neater than `cfg` asks."""
    style_cfg = SampleConfig(seed=style, bias=max(cfg.bias, 1.0), max_points=cfg.max_points,
                             candidates=cfg.candidates)
    return write_page(writer, [STYLE_TEXT], style_cfg, reader=reader)[0]


def write(text: str, bias: float = WRITING.bias, seed: int = 0, style: int | None = None,
          model: str | Path | None = None) -> Ink:
    """One line of `text` in handwriting, by the shipped synthesis model unless `model`."""
    writer = Writer.load(model, synthesis=True)
    return write_page(writer, [text], replace(WRITING, seed=seed, bias=bias), style=style,
                      reader=InkReader.load())[0]


def sample_lines(n: int = 1, bias: float = 0.5, seed: int = 0, model: str | Path | None = None
           ) -> list[Ink]:
    """`n` new lines of handwriting from nothing, by the shipped model unless `model`."""
    return generate(Writer.load(model), SampleConfig(n=n, seed=seed, bias=bias))[0]


def read_primer(path: str | Path) -> Ink:
    """The first line of an ink file, to prime with."""
    from .ink import read_ink

    inks = read_ink(path)
    if not inks:
        raise InkError(path, None, "no ink to prime with")
    return inks[0]
