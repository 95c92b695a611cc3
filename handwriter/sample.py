"""Writing new ink: a lean step-by-step copy of the network, biased and primed sampling.

`Sampler.step` does the arithmetic of `HandwritingNet.forward` for one point with the
weights laid out once for inference, so no module, autograd or concatenation overhead is
paid per point; a test checks it against `forward` to 1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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

    def adapted(self, tensors: dict[str, Tensor]) -> Writer:
        """A copy with the named weights replaced (a style's fine-tuned ones); self is untouched."""
        weights = self.net.state_dict()
        misfits = [k for k, v in tensors.items() if k not in weights or v.shape != weights[k].shape]
        if misfits:
            raise ValueError(f"weights that do not fit this model: {', '.join(misfits)}")
        net = HandwritingNet(self.net.cfg)
        net.load_state_dict({**weights, **{k: v.float() for k, v in tensors.items()}})
        return Writer(net.eval(), self.checkpoint)

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

    @staticmethod
    def cat(pens: list[Pen]) -> Pen:
        """One batch of the rows of several pens, in order."""
        h, c, kappa, window = (list(part) for part in zip(*(p.state for p in pens), strict=True))
        if kappa[0] is not None:
            kappa, window = torch.cat(kappa), torch.cat(window)
        else:
            kappa = window = None
        return Pen(State(torch.cat(h, 1), torch.cat(c, 1), kappa, window),
                   torch.cat([p.point for p in pens]))


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


def encode_texts(writer: Writer, texts: list[str], primer_text: str = ""
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Character codes (B, U) of primer_text + each text, their mask (B, U) and lengths (B,)."""
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
    return codes, text_mask, torch.tensor([len(c) for c in encoded])


@torch.inference_mode()
def start_pen(writer: Writer, B: int, codes: Tensor | None = None,
              text_mask: Tensor | None = None, primer: Ink | None = None) -> Pen:
    """The pen of B new lines: the network's initial state, or its state after the primer."""
    net = writer.net
    pen = Pen(net.initial_state(B), torch.from_numpy(START).expand(B, 3).clone())
    if primer is None:
        return pen
    strokes = writer.prime_strokes(primer)[None].expand(B, -1, -1)
    _, state = net(torch.cat([pen.point[:, None], strokes[:, :-1]], 1), codes, text_mask,
                   pen.state)
    return Pen(state, strokes[:, -1].clone())


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
    if not texts and cfg.n < 1:
        raise ValueError(f"n (lines to write) must be at least 1, got {cfg.n}")
    if generator is None:
        generator = torch.Generator().manual_seed(cfg.seed)
    chars = text_mask = codes = ends = None
    if net.text_size or texts:
        if not texts:
            raise ValueError("a synthesis model needs the text to write")
        codes, text_mask, ends = encode_texts(writer, texts, primer_text)
        chars = F.one_hot(codes, net.text_size).float()
        B = len(texts)
    else:
        B = cfg.n
    if pen is None:
        pen = start_pen(writer, B, codes, text_mask, primer)
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
