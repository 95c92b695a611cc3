"""Writing new ink: a lean step-by-step copy of the network, biased and primed sampling.

`Sampler.step` does the arithmetic of `HandwritingNet.forward` for one point of a batch of
lines with the weights laid out once for inference, so no module, autograd or concatenation
overhead is paid per point; `LinePen.step` does the same for one line (batch 1, as the
studio streams it) in preallocated numpy buffers, numpy's BLAS for the matrix products
(or torch's int8 products with `SampleConfig.int8`). Tests check `Sampler.step` against
`forward` and `LinePen.step` against it.
"""

from __future__ import annotations

import copy
import hashlib
import math
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields, replace
from functools import cache, cached_property
from importlib import resources
from numbers import Integral, Real
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import ThreadpoolController
from torch import Tensor

from .characters import cannot_write, writable
from .data import (
    MODEL_UNITS,
    PRIMER_POINTS,
    START,
    encode_text,
    leaned,
    pad_primers,
    prepared,
    slant_of,
)
from .ink import Ink, InkError, read_ink
from .model import (
    LOG_SIGMA_MIN,
    RHO_MAX,
    WEIGHT_BIAS_MAX,
    HandwritingNet,
    State,
    attend,
    fold_style,
    load_model,
    sample_point,
    split_mixture,
)

MAX_LINES_AT_ONCE = 1000  # lines sampled together are one batch in memory


SHIPPED = ("synthesis", "unconditional", "sample")  # the handwriting models in the package


def shipped(name: str) -> Path:
    """The file of a model shipped in the package, by name (`SHIPPED`)."""
    path = resources.files("handwriter") / "models" / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped model is missing from the package")
    return path


def model_file(model: str | Path) -> str | Path:
    """A checkpoint's path, or a shipped model's file when `model` names one (`SHIPPED`)."""
    return shipped(model) if model in SHIPPED else model


@dataclass
class SampleConfig:
    n: int = 1                  # lines to write
    seed: int = 0               # same seed, same ink
    bias: float = 0.0           # Graves' sampling bias (section 5.4): higher = neater
    temperature: float = 1.0    # < 1 narrows every distribution, like a softer bias
    max_points: int = 700       # points per line at most (a line of text ends sooner)
    candidates: int = 1         # text: drafts of each segment of a line; the best is kept
    segment: int = 120          # text: points a line grows between choices (about two words)
    style_drafts: int = 1       # text in a real person's style (saved or primed): this many
    # times the candidates, since their hand costs legibility and more drafts buy it back
    # (docs/BENCHMARKS.md, "Your hand")
    style_strength: float = 1.0  # how much of a real writer's hand (0: none; 2: more of
    # it, less legible; docs/HISTORY.md, "Shrinking the style"); an adapted style is
    # used as fitted
    lean: float = 0.5           # each line written in a real writer's style is leaned this
    # share of the way from its own slant to theirs: the model falls short of it (0: as the
    # model writes; 1: all the way, less legible; docs/BENCHMARKS.md, "Your hand")
    int8: bool = False          # int8 weights in the LSTMs' products: 1.6x faster at 3x400
    # on one thread (slower on two), not at the shipped 3x256; 0.07-0.12 nats/point less
    # likely (docs/BENCHMARKS.md, "Sampling speed")

    def __post_init__(self) -> None:
        """Refused wherever a config is made (the CLI, the studio, the library), styled or
        not, with the name of the setting; `not x >= 0` also catches NaN."""
        for f in fields(self):
            value, kind = getattr(self, f.name), {"int": Integral, "float": Real}.get(f.type)
            if kind and (isinstance(value, bool) or not isinstance(value, kind)):
                raise TypeError(f"{f.name.replace('_', ' ')} must be "
                                f"{'a whole number' if kind is Integral else 'a number'}, "
                                f"got {value!r}")
        if not 0 <= self.n <= MAX_LINES_AT_ONCE:  # 0 where the texts say how many
            raise ValueError(f"n (lines to write) must be between 1 and {MAX_LINES_AT_ONCE}, "
                             f"got {self.n}")
        for name in ("max_points", "candidates", "segment", "style_drafts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got "
                                 f"{getattr(self, name)}")
        if not 0 <= self.bias < math.inf:  # Graves' bias; below 0 it divides by 1 + bias
            raise ValueError(f"bias must be 0 or more, got {self.bias}")
        if not 0 < self.temperature < math.inf:
            raise ValueError(f"temperature must be above 0, got {self.temperature}")
        if not self.style_strength >= 0:
            raise ValueError(f"style strength must be 0 or more, got {self.style_strength}")
        if not 0 <= self.lean <= 1:
            raise ValueError(f"lean must be between 0 and 1, got {self.lean}")

    def in_persons_hand(self) -> SampleConfig:
        """This config for a real person's hand: `style_drafts` times the drafts."""
        return replace(self, candidates=self.candidates * self.style_drafts)


# Writing text wants legible ink by default: Graves' bias, room for long lines, and drafts.
WRITING = SampleConfig(bias=0.75, max_points=1500, candidates=32, style_drafts=4)


def neaten(style: Tensor, direction: Tensor, limit: float = 0.0) -> Tensor:
    """`style` moved back along `direction` to `limit` (0: no style's predicted legibility),
    if it is beyond: the least change that makes the hand predicted that legible."""
    excess = (style @ direction - limit).clamp(min=0)
    return style - excess / (direction @ direction) * direction


class Writer:
    """A trained model ready to write: the network, its data scale and its alphabet.

    A model with a style input keeps it in `style_net`; `net` is that network with one style
    folded in (`model.fold_style`), the zero style ("no particular hand") unless `style`.
    """

    def __init__(self, net: HandwritingNet, checkpoint: dict, style: Tensor | None = None):
        self.style_net = net if net.cfg.style_size else None
        self.neatness = checkpoint.get("neatness")  # `neatness.neatness_of`, if measured
        if self.style_net is not None:
            style = style if style is not None else torch.zeros(net.cfg.style_size)
            net = fold_style(net, style)
        self.style = style
        self.slant: float | None = None  # the hand's slant to lean toward (`leaning`)
        self.net = net
        self.offset_scale = float(checkpoint["offset_scale"])
        train_config = checkpoint.get("train_config") or {}
        self.resample_step = float(train_config.get("resample_step", 0.2))
        self.max_jump = float(train_config.get("max_jump", 8.0))
        self.checkpoint = {k: v for k, v in checkpoint.items() if k != "model"}
        self.sampler = Sampler(net)

    @cached_property
    def int8_sampler(self) -> Sampler:
        """`sampler` with int8 matrix products, packed on first use."""
        return Sampler(self.net, int8=True)

    @cached_property
    def fingerprint(self) -> Tensor:
        """16 bytes that tell this network's weights from any other's: a style adapted to
        one model means nothing to another (`adapt.adapted_style`)."""
        digest = hashlib.sha256()
        for name, value in (self.style_net or self.net).state_dict().items():
            digest.update(name.encode())
            digest.update(value.detach().float().contiguous().numpy().tobytes())
        return torch.tensor(list(digest.digest()[:16]), dtype=torch.uint8)

    @property
    def alphabet(self) -> str:
        return self.net.cfg.alphabet

    @classmethod
    def load(cls, path: str | Path | None = None, synthesis: bool = False) -> Writer:
        """A checkpoint, or a model shipped in the package: by name (`SHIPPED`), or when
        `path` is None the text-to-handwriting one if `synthesis` else the stroke-only one."""
        if path is None:
            path = "synthesis" if synthesis else "unconditional"
        net, checkpoint = load_model(model_file(path))
        return cls(net, checkpoint)

    def style_of(self, inks: list[Ink], strength: float = 1.0) -> Tensor:
        """The style vector (S,) of a writer's lines: the mean of each line's, each read from
        its first `PRIMER_POINTS` points as in training (`StyleEncoder.read` for `strength`)."""
        if self.style_net is None:
            raise ValueError("this model has no style input")
        with torch.no_grad():
            return self.style_net.encode_style(*self.primers(inks), strength).mean(0)

    def primers(self, inks: list[Ink]) -> tuple[Tensor, Tensor]:
        """Lines as the style encoder reads them: strokes (B, T, 3), mask (B, T)."""
        return pad_primers([self.prime_strokes(ink)[:PRIMER_POINTS].numpy() for ink in inks],
                           1.0)  # already scaled

    def styled(self, style: Tensor, neat: bool = True) -> Writer:
        """A copy writing in `style` (from `style_of`); self is untouched. If `neat` and the
        model's neatness was measured, a style further along its direction than its limit is
        moved back to it (`neaten`)."""
        if neat and self.neatness is not None:
            style = neaten(style, self.neatness["direction"].float(),
                           self.neatness.get("limit", 0.0))
        return Writer(self.style_net, self.checkpoint, style)

    def leaning(self, inks: list[Ink]) -> Writer:
        """A copy whose lines lean toward the slant of a writer's `inks` (the median of
        theirs; `SampleConfig.lean` says how far); self is untouched."""
        slants = [slant for strokes in map(prepared, inks) if strokes is not None
                  and (slant := slant_of(strokes)) is not None]
        out = copy.copy(self)
        out.slant = float(np.median(slants)) if slants else None
        return out

    def check_text(self, text: str) -> np.ndarray:
        """Character indices of `text`, or an error listing the characters the model lacks."""
        if not self.alphabet:
            raise ValueError("this model writes without text (unconditional); use a "
                             "synthesis model to write given text")
        unknown = sorted(set(text) - set(self.alphabet))
        if unknown:
            raise ValueError(cannot_write(unknown))
        return encode_text(text, self.alphabet)

    def writable(self, text: str) -> tuple[str, str]:
        """Pasted `text` in this model's characters, and a notice of what was changed
        (`characters.writable`); an unconditional model's error if it writes no text."""
        self.check_text("")
        return writable(text, self.alphabet)

    def prime_strokes(self, primer: Ink) -> Tensor:
        """A primer line preprocessed as in training, scaled for the network: (T, 3)."""
        strokes = prepared(primer, self.resample_step, self.max_jump)
        if strokes is None or not len(strokes):
            raise ValueError("the primer has no usable ink (it needs some height)")
        strokes = strokes.copy()
        strokes[:, :2] /= self.offset_scale
        return torch.from_numpy(strokes)


def int8_packed(weight: Tensor, bias: Tensor) -> torch.ScriptObject:
    """`weight` (in, out) rounded to int8 with one scale per output unit, packed for fbgemm."""
    w = weight.T.contiguous()
    scale = (w.abs().amax(1) / 127).clamp_min(1e-12).double()
    # torch 2.13 deprecates quantised tensors (pytorch#184982): ours to track, not the user's
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions")
        q = torch.quantize_per_channel(w, scale, torch.zeros(len(w), dtype=torch.long), 0,
                                       torch.qint8)
    return torch.ops.quantized.linear_prepack(q, bias)


class Linear:
    """`x @ weight + bias` for the sampler: float32 `addmm`, or int8 weights (`int8=True`).

    int8 weights are a quarter of the bytes to read, what bounds a 3x400 step at batch 1;
    fbgemm also rounds x to 7 bits of its range on each call, so the product is not exact.
    """

    def __init__(self, weight: Tensor, bias: Tensor, int8: bool = False):
        self.weight, self.bias = weight, bias  # (in, out), (out,)
        self.packed = int8_packed(weight, bias) if int8 else None
        self.weight_np, self.bias_np = weight.numpy(), bias.numpy()  # the same memory

    @classmethod
    def of(cls, module: torch.nn.Linear, int8: bool = False) -> Linear:
        return cls(module.weight.detach().T.contiguous(), module.bias.detach(), int8)

    def __call__(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        """x (B, in) -> (B, out), written into `out` when given."""
        if self.packed is None:
            return torch.addmm(self.bias, x, self.weight, out=out)
        # reduce_range: 7-bit x; with 8 bits AVX2's int16 multiply-adds saturate (4x the error)
        y = torch.ops.quantized.linear_dynamic(x, self.packed, True)
        return y if out is None else out.copy_(y)

    def into(self, x: np.ndarray, out: np.ndarray) -> None:
        """`self(x)` for one row held in numpy, written into `out`: at batch 1 numpy's BLAS
        multiplies a vector by a matrix faster than torch does (docs/HISTORY.md)."""
        if self.packed is not None:
            self(torch.from_numpy(x)[None], out=torch.from_numpy(out)[None])
            return
        np.dot(x, self.weight_np, out=out)
        out += self.bias_np


class Sampler:
    """Inference-only weights of a HandwritingNet, stepped one point at a time.

    Each LSTM's input and recurrent weights are stacked into one matrix with the gates
    reordered i, f, o, g: one matmul and one sigmoid per layer. At batch 1, the time per
    point goes mostly to per-operation overhead, so fewer operations means faster ink.
    With `int8` the LSTMs' products go through int8 weights (`Linear`); the head and the
    window stay float32: 4% of a 3x400 network's weights, a third of int8's cost in
    likelihood (docs/HISTORY.md, "int8 products").
    """

    def __init__(self, net: HandwritingNet, int8: bool = False):
        self.cfg = net.cfg
        self.text_size = net.text_size
        H = net.cfg.hidden_size
        order = torch.cat([torch.arange(2 * H), torch.arange(3 * H, 4 * H),
                           torch.arange(2 * H, 3 * H)])  # torch's i, f, g, o -> i, f, o, g
        weights = []  # (W_ih, W_hh, b_ih, b_hh) per layer
        self.window: Linear | None = None
        if self.text_size:
            cell = net.cell
            weights.append((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
            self.window = Linear.of(net.window.linear)
        weights += [(lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
                    for lstm in net.layers]
        self.layers = [Linear(torch.cat([w_ih, w_hh], 1)[order].detach().T.contiguous(),
                              (b_ih + b_hh)[order].detach(), int8)  # (in + H, 4H), (4H,)
                       for w_ih, w_hh, b_ih, b_hh in weights]
        self.head = Linear.of(net.head)

    @staticmethod
    def lstm(inputs: list[Tensor], h: Tensor, c: Tensor, layer: Linear) -> tuple[Tensor, Tensor]:
        gates = layer(torch.cat([*inputs, h], 1))
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
                window, kappa, phi = attend(self.window(h), state.kappa, chars, text_mask)
                skip = [point, window]
            else:
                h, c = self.lstm(skip + hs[-1:], state.h[i], state.c[i], layer)
            hs.append(h)
            cs.append(c)
        raw = self.head(torch.cat(hs + skip[1:], 1))
        return raw, State(torch.stack(hs), torch.stack(cs), kappa, window), phi


class LinePen:
    """One line's network state at batch 1, stepped with `Sampler`'s weights.

    At batch 1 a step is a few matrix-vector products, and a torch operation on a small
    tensor costs more than its arithmetic: it is all numpy, in preallocated buffers, the
    products by numpy's BLAS (`Linear.into`) on as many threads as torch's (`blas_threads`).
    Each layer's input `[point, window, h below, h]` lives in one buffer the layers write
    their new h into: nothing is concatenated per point.
    """

    def __init__(self, sampler: Sampler, state: State):
        self.sampler = sampler
        H, V = sampler.cfg.hidden_size, sampler.text_size
        h, c = state.h[:, 0].numpy(), state.c[:, 0].numpy()        # (L, H)
        self.inputs = [np.zeros(len(layer.weight), np.float32) for layer in sampler.layers]
        self.head_in = np.zeros(len(sampler.head.weight), np.float32)  # [h0 .. hL-1, window]
        for i, x in enumerate(self.inputs):
            x[-H:] = h[i]
            if i:
                x[-2 * H:-H] = h[i - 1]
            self.head_in[i * H:(i + 1) * H] = h[i]
        self.c = c.copy()
        self.gates = np.empty(4 * H, np.float32)
        self.scratch = np.empty(H, np.float32)
        self.raw = np.empty(len(sampler.head.bias), np.float32)
        self.kappa = self.window = None
        if V:
            self.kappa = state.kappa[0].numpy().copy()
            self.window = self.head_in[-V:]
            self.window[:] = state.window[0].numpy()
            self.inputs[0][3:3 + V] = self.window
            self.window_params = np.empty(len(sampler.window.bias), np.float32)

    def state(self) -> State:
        """The torch State (batch 1) this line has reached."""
        L, H = len(self.inputs), self.sampler.cfg.hidden_size
        h = torch.from_numpy(self.head_in[:L * H].reshape(L, 1, H).copy())
        kappa = window = None
        if self.kappa is not None:
            kappa, window = torch.from_numpy(self.kappa[None].copy()), \
                torch.from_numpy(self.window[None].copy())
        return State(h, torch.from_numpy(self.c[:, None].copy()), kappa, window)

    def step(self, point: np.ndarray, chars: Tensor | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """`Sampler.step` for one line: point (3,) -> raw head output (1 + 6M,), phi or None.

        `chars` is the one-hot text (U, V); the raw output is a buffer the next step reuses.
        """
        H, V = self.sampler.cfg.hidden_size, self.sampler.text_size
        g, phi = self.gates, None
        layers = zip(self.sampler.layers, self.inputs, strict=True)
        for i, (layer, x) in enumerate(layers):
            x[:3] = point
            layer.into(x, g)
            ifo = g[:3 * H]                  # sigmoid(v) = (1 + tanh(v / 2)) / 2, no overflow
            ifo *= 0.5
            np.tanh(ifo, out=ifo)
            ifo *= 0.5
            ifo += 0.5
            np.tanh(g[3 * H:], out=g[3 * H:])
            c = self.c[i]
            c *= g[H:2 * H]
            np.multiply(g[:H], g[3 * H:], out=self.scratch)
            c += self.scratch
            h = self.head_in[i * H:(i + 1) * H]
            np.tanh(c, out=h)
            h *= g[2 * H:3 * H]
            x[-H:] = h
            if i + 1 < len(self.inputs):
                self.inputs[i + 1][-2 * H:-H] = h
            if i == 0 and V:
                phi = self.attend(h, chars)
                for later in self.inputs[1:]:
                    later[3:3 + V] = self.window
        self.sampler.head.into(self.head_in, self.raw)
        return self.raw, phi

    def attend(self, h: np.ndarray, chars: Tensor) -> np.ndarray:
        """`model.attend` (Graves eqs. 46-51) for one line whose text fills `chars` (U, V)."""
        params = self.window_params
        self.sampler.window.into(h, params)
        alpha, beta, kappa_step = np.split(np.exp(params), 3)
        self.kappa += kappa_step
        u = np.arange(len(chars) + 1, dtype=np.float32)
        phi = (alpha[:, None] * np.exp(-beta[:, None] * (self.kappa[:, None] - u) ** 2)).sum(0)
        np.dot(phi[:-1], chars.numpy(), out=self.window)  # eq. 47
        self.inputs[0][3:3 + len(self.window)] = self.window
        return phi

    def sample(self, raw: np.ndarray, bias: float, temperature: float,
               generator: torch.Generator) -> tuple[float, float, float]:
        """`sample_point(split_mixture(raw, bias, temperature))` for one line, the same
        draws and math in float64 scalars: many times fewer operations than in tensors."""
        M = self.sampler.cfg.num_mixtures
        r = raw.astype(np.float64)
        u = torch.rand(1, 2, generator=generator)[0].tolist()
        weight = r[1:1 + M] * ((1 + min(bias, WEIGHT_BIAS_MAX)) / temperature)
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
        return dx, dy, float(pen)


class Pen(NamedTuple):
    """Where a batch of lines stands: the network state and the last point (next input)."""
    state: State
    point: Tensor

    def rows(self, index: list[int] | Tensor) -> Pen:
        h, c, kappa, window = self.state
        if kappa is not None:
            kappa, window = kappa[index], window[index]
        return Pen(State(h[:, index], c[:, index], kappa, window), self.point[index])

    def put(self, index: Tensor, rows: Pen) -> None:
        """Write `rows`, a pen of len(index) lines, into these lines at `index`, in place."""
        h, c, kappa, window = self.state
        h[:, index], c[:, index] = rows.state.h, rows.state.c
        if kappa is not None:
            kappa[index], window[index] = rows.state.kappa, rows.state.window
        self.point[index] = rows.point

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

    This is Graves' sampling, one draft as it falls: `writing.write` writes text legibly
    (the reader keeping the best of many drafts of each stretch, at a bias).
    """
    if isinstance(texts, str):
        raise TypeError("texts is a list of lines, one str each; got one str")
    inks, phis, _ = draw(writer, cfg, texts, primer, primer_text, generator)
    return [lean(writer, cfg, ink) for ink in inks], phis


def lean(writer: Writer, cfg: SampleConfig, ink: Ink) -> Ink:
    """`ink` leaned `cfg.lean` of the way from its slant toward `writer.slant`, if set;
    otherwise `ink` itself."""
    now = slant_of(ink.strokes) if writer.slant is not None and cfg.lean else None
    if now is None:
        return ink
    strokes = leaned(ink.strokes, now + cfg.lean * (writer.slant - now))
    return Ink(strokes, text=ink.text, meta=ink.meta)


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
    net, sampler = writer.net, writer.int8_sampler if cfg.int8 else writer.sampler
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
    step = draw_line if B == 1 else draw_batch
    lines, done, phis, pen = step(sampler, cfg, pen, chars, text_mask, ends, generator)
    inks = []
    for b, strokes in enumerate(lines):
        strokes = strokes.copy()
        strokes[:, :2] *= writer.offset_scale
        complete = done[b] if texts else True
        if complete:  # an unfinished line may yet be carried on from its pen
            strokes[-1, 2] = 1.0
        inks.append(Ink(strokes, text=texts[b] if texts else "",
                        meta={"finished": complete, "units": MODEL_UNITS}))
    return inks, phis, pen


Drawn = tuple[list[np.ndarray], list[bool], list[Tensor], Pen]  # strokes, finished, phis, pen


def draw_batch(sampler: Sampler, cfg: SampleConfig, pen: Pen, chars: Tensor | None,
               text_mask: Tensor | None, ends: Tensor | None,
               generator: torch.Generator) -> Drawn:
    """`draw`'s loop for a batch of lines, in torch; a line with text stops by Graves' rule.

    A line that has stopped is no longer stepped: the rows still writing are gathered into
    a smaller batch, and the stopped line's pen is kept as it was when it stopped.
    """
    B = len(pen.point)
    out = Pen(State(*(None if x is None else x.clone() for x in pen.state)), pen.point.clone())
    (state, point), alive = pen, torch.arange(B)  # the rows still writing
    points = torch.zeros(B, cfg.max_points, 3)
    lengths = torch.full((B,), cfg.max_points)
    done = torch.zeros(B, dtype=torch.bool)
    phis = None
    for t in range(cfg.max_points):
        raw, state, phi = sampler.step(point, state, chars, text_mask)
        point = sample_point(split_mixture(raw, cfg.bias, cfg.temperature), generator)
        points[alive, t] = point
        if phi is None:
            continue
        if phis is None:
            phis = torch.zeros(B, cfg.max_points, phi.shape[1])
        phis[alive, t] = phi
        before_end = torch.where(text_mask > 0, phi[:, :-1], -1.0).max(1).values
        finished = phi.gather(1, ends[:, None])[:, 0] > before_end
        if finished.any():
            lengths[alive[finished]] = t + 1
            done[alive[finished]] = True
            out.put(alive[finished], Pen(state, point).rows(finished))
            keep = ~finished
            if not keep.any():
                break
            state, point = Pen(state, point).rows(keep)
            chars, text_mask, ends, alive = chars[keep], text_mask[keep], ends[keep], alive[keep]
    else:
        out.put(alive, Pen(state, point))
    return [points[b, :lengths[b]].numpy() for b in range(B)], done.tolist(), \
        [phis[b, :lengths[b]] for b in range(B)] if phis is not None else [], out


@cache
def blas() -> ThreadpoolController:
    """numpy's BLAS libraries, found once (after numpy is loaded)."""
    return ThreadpoolController()


def blas_threads(n: int | None = None) -> AbstractContextManager:
    """Limit numpy's BLAS to `n` threads (default: torch's); a context manager that restores.

    OpenBLAS otherwise starts a thread per core, beyond `torch.set_num_threads`, and under
    load its threads spin against each other (docs/HISTORY.md, "Batch 1")."""
    return blas().limit(limits=n or torch.get_num_threads(), user_api="blas")


def draw_line(sampler: Sampler, cfg: SampleConfig, pen: Pen, chars: Tensor | None,
              text_mask: Tensor | None, ends: Tensor | None,
              generator: torch.Generator) -> Drawn:
    """`draw_batch` for one line (whose text fills `chars`, so no mask), stepped by a LinePen:
    the same math and random draws, several times faster per point."""
    line = LinePen(sampler, pen.state)
    chars = chars[0] if chars is not None else None
    points = np.zeros((cfg.max_points, 3), np.float32)
    point = pen.point[0].numpy()
    phis, finished = [], False
    with blas_threads():
        for t in range(cfg.max_points):
            raw, phi = line.step(point, chars)
            point = points[t] = line.sample(raw, cfg.bias, cfg.temperature, generator)
            if phi is not None:
                phis.append(phi)
                if phi[-1] > phi[:-1].max():  # Graves' stop rule, as in draw_batch
                    finished = True
                    break
    return [points[:t + 1]], [finished], [torch.from_numpy(np.stack(phis))] if phis else [], \
        Pen(line.state(), torch.from_numpy(points[t:t + 1].copy()))


def read_primer(path: str | Path) -> Ink:
    """The first line of an ink file, to prime with."""
    inks = read_ink(path)
    if not inks:
        raise InkError(path, None, "no ink to prime with")
    return inks[0]
