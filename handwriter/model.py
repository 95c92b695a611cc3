"""Graves' handwriting networks: stacked LSTMs with a mixture density output.

Alex Graves, "Generating Sequences With Recurrent Neural Networks" (2013, arXiv 1308.0850).
Equation numbers below are the paper's. Unconditional prediction (section 4): every layer sees
the input and the layer below (skip connections), the output head sees every layer.
Synthesis (section 5): the first layer drives a soft window over the one-hot text
(eqs. 46-51), and the window is fed to the first layer at the next step, to every higher
layer, and to the output head.
Style (ours, for writing in a given hand): a small LSTM reads another line of the writer
and its mean output (or 12-25 measurements of that line) becomes a style vector fed, like the
window, to every layer and the head. It is constant along a line, so `fold_style` can bake
it into the biases. In training, each training writer may have a learnt style of their own
(`StyleEncoder.table`), which the reading learns to predict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import SHAPES, STATISTICS, line_statistics
from .ink import InkError

CHECKPOINT_VERSION = 1


@dataclass
class ModelConfig:
    num_layers: int = 3         # stacked LSTM layers (Graves uses 3)
    hidden_size: int = 400      # LSTM units per layer (Graves uses 400)
    num_mixtures: int = 20      # bivariate Gaussians in the output head (Graves uses 20)
    window_mixtures: int = 10   # Gaussians in the text window (synthesis only)
    alphabet: str = ""          # characters the text window knows; "" = unconditional
    chars_per_step: float = 0.08  # initial window speed: characters per pen point
    dropout: float = 0.0        # on each LSTM layer's output to the layers above and the head
    style_size: int = 0         # style vector read from another line of the writer, which
                                # training draws at random; 0 = none; more than an --init
                                # model's adds numbers of style (`widen`)
    style_hidden: int = 128     # LSTM units of the style encoder
    style_statistics: bool = False  # read the style from 12 measurements of the line
                                # (`data.line_statistics`: slant, stroke length, ...), not an LSTM
    style_shape: bool = False   # with statistics, 13 more of the letters' shapes (`data.SHAPES`:
                                # where the pen heads, how sharply it turns, how narrow they are)
    style_writers: int = 0      # training writers the style learns to tell apart (a side
                                # loss that keeps it a writer's; train sets it); 0 = none
    style_table: int = 0        # training writers with a learnt style of their own, which
                                # their lines train in (`--writer-styles` sets it); 0 = none


# ---------------------------------------------------------------- the mixture density head

LOG_SIGMA_MIN = math.log(1e-4)   # floor on sigma: a spike density would dominate the loss
RHO_MAX = 1 - 1e-4               # keeps 1 - rho^2 away from 0
# The most bias that sharpens the mixture weights; more only narrows the Gaussians. Weights
# sharpened further pick the pen-up jump while the pen is down: loops a line high and
# strokes across the page (bias 3: 58% of lines spoiled, reader's CER 27.6%; capped: 4%,
# 20.6%; docs/BENCHMARKS.md, "Bias").
WEIGHT_BIAS_MAX = 1.0


class Mixture(NamedTuple):
    log_weight: Tensor       # (..., M), normalised
    mu: Tensor               # (..., M, 2)
    log_sigma: Tensor        # (..., M, 2)
    rho: Tensor              # (..., M), in (-1, 1)
    pen_lift_logit: Tensor   # (...)


def split_mixture(raw: Tensor, bias: float = 0.0, temperature: float = 1.0) -> Mixture:
    """Head output `(..., 1 + 6M)` -> Mixture (Graves eqs. 18-22).

    `bias` is Graves' sampling bias (eqs. 61-62): sharper weights (up to a bias of
    `WEIGHT_BIAS_MAX`) and narrower Gaussians. `temperature` < 1 also narrows them; both are
    for sampling, never for training.
    """
    M = (raw.shape[-1] - 1) // 6
    pen_lift_logit, weight, mu, log_sigma, rho = raw.split([1, M, 2 * M, 2 * M, M], -1)
    log_weight = F.log_softmax(weight * (1 + min(bias, WEIGHT_BIAS_MAX)) / temperature, -1)
    log_sigma = (log_sigma - bias).clamp(min=LOG_SIGMA_MIN) + 0.5 * math.log(temperature)
    return Mixture(log_weight, mu.unflatten(-1, (M, 2)), log_sigma.unflatten(-1, (M, 2)),
                   torch.tanh(rho) * RHO_MAX, pen_lift_logit.squeeze(-1) / temperature)


def mixture_log_density(mix: Mixture, target: Tensor) -> Tensor:
    """log p(target) per point, in nats (Graves eqs. 23-26 in log space); target (..., 3)."""
    z = (target[..., None, :2] - mix.mu) * torch.exp(-mix.log_sigma)  # (..., M, 2)
    one_minus_rho2 = 1 - mix.rho ** 2
    quad = (z[..., 0] ** 2 + z[..., 1] ** 2 - 2 * mix.rho * z[..., 0] * z[..., 1]) / one_minus_rho2
    log_gauss = (-math.log(2 * math.pi) - mix.log_sigma.sum(-1)
                 - 0.5 * torch.log(one_minus_rho2) - 0.5 * quad)             # (..., M)
    log_xy = torch.logsumexp(mix.log_weight + log_gauss, -1)
    log_pen = -F.binary_cross_entropy_with_logits(mix.pen_lift_logit, target[..., 2],
                                                  reduction="none")
    return log_xy + log_pen


def mixture_nll(mix: Mixture, target: Tensor, mask: Tensor) -> Tensor:
    """Negative log-likelihood of each line, nats per line `(B,)`; padding masked out."""
    return -(mixture_log_density(mix, target) * mask).sum(-1)


def sample_point(mix: Mixture, generator: torch.Generator | None = None) -> Tensor:
    """Draw one `[dx, dy, pen_lift]` per row of a `(B, ...)` Mixture with one step: `(B, 3)`.

    The component comes from the inverse CDF of one uniform draw, cheaper per point than
    `torch.multinomial`, which matters when sampling one line point by point.
    """
    B, M = mix.log_weight.shape[0], mix.log_weight.shape[-1]
    u = torch.rand(B, 2, generator=generator, dtype=mix.mu.dtype)
    k = (mix.log_weight.reshape(B, M).exp().cumsum(-1) < u[:, :1]).sum(-1).clamp_(max=M - 1)
    params = torch.cat([mix.mu.reshape(B, M, 2), mix.log_sigma.reshape(B, M, 2),
                        mix.rho.reshape(B, M, 1)], -1)                # (B, M, 5)
    mu_x, mu_y, log_sigma_x, log_sigma_y, rho = params[torch.arange(B), k].unbind(-1)
    n = torch.randn(B, 2, generator=generator, dtype=mix.mu.dtype)
    dx = mu_x + log_sigma_x.exp() * n[:, 0]
    dy = mu_y + log_sigma_y.exp() * (rho * n[:, 0] + torch.sqrt(1 - rho * rho) * n[:, 1])
    pen = (u[:, 1] < torch.sigmoid(mix.pen_lift_logit.reshape(B))).to(dx.dtype)
    return torch.stack([dx, dy, pen], -1)


# ---------------------------------------------------------------- the soft text window


class Window(nn.Module):
    """Graves' soft window (eqs. 46-51): K Gaussians whose centres kappa only move forward."""

    def __init__(self, hidden_size: int, num_mixtures: int, chars_per_step: float):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 3 * num_mixtures)
        # Start wide (beta ~ 0.25: a few characters) and moving at about the rate text is
        # written, with weights that sum to about one; otherwise the window never aligns.
        K, beta = num_mixtures, 0.25
        with torch.no_grad():
            self.linear.weight.mul_(0.1)
            self.linear.bias[:K] = math.log(1 / (K * math.sqrt(math.pi / beta)))
            self.linear.bias[K:2 * K] = math.log(beta)
            self.linear.bias[2 * K:] = math.log(chars_per_step)

    def forward(self, h: Tensor, kappa: Tensor, chars: Tensor, text_mask: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        """One step: h (B, H), kappa (B, K), chars one-hot (B, U, V), text_mask (B, U).

        Returns the window (B, V), the new kappa and phi over positions 0..U (B, U + 1),
        where position U is "past the end", used by the stop rule.
        """
        return attend(self.linear(h), kappa, chars, text_mask)


def attend(params: Tensor, kappa: Tensor, chars: Tensor, text_mask: Tensor
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Graves eqs. 46-51 from the window layer's output `params` (B, 3K): window, kappa, phi.

    Pure, so the training module and the sampler share one copy of the window math.
    """
    # At least fp32, even under bf16 autocast: kappa adds up hundreds of small steps.
    params = params.to(torch.promote_types(params.dtype, torch.float32))
    alpha, beta, kappa_step = params.exp().chunk(3, -1)               # eqs. 48-50
    kappa = kappa + kappa_step                                         # eq. 51
    u = torch.arange(chars.shape[1] + 1, dtype=alpha.dtype, device=params.device)  # (U + 1,)
    phi = (alpha[..., None] * torch.exp(-beta[..., None] * (kappa[..., None] - u) ** 2)
           ).sum(1)                                                    # eq. 46, (B, U + 1)
    window = torch.bmm((phi[:, :-1] * text_mask)[:, None], chars)[:, 0]  # eq. 47, (B, V)
    return window, kappa, phi


# ---------------------------------------------------------------- the style encoder


class StyleEncoder(nn.Module):
    """A writer's hand from a line of their ink: an LSTM over its points, averaged over time,
    or with `statistics` the line's 12 scale-free measurements (`data.line_statistics`), with
    `shape` 13 more of its letters' shapes.

    A row whose mask is all zero (no primer) gets the zero vector: "no particular hand".
    The summaries are standardised across lines (batch norm): averaged over hundreds of
    points they differ little between writers, and unscaled the style is all but constant.
    `writers` adds a classifier over the training writers, for training only: on its own
    the style starts unused and fades to zero before the network learns to read it.
    Twelve measurements, unlike the LSTM, cannot learn the training writers by heart.
    `table` holds a learnt style (before tanh) per training writer: trained in them, the
    network learns hands a new writer's style can be fitted to (`adapt`), and the reading
    learns to predict them.
    """

    def __init__(self, hidden_size: int, style_size: int, writers: int = 0,
                 statistics: bool = False, shape: bool = False, table: int = 0):
        super().__init__()
        self.shape = shape
        width = len(STATISTICS) + len(SHAPES) * shape if statistics else hidden_size
        self.lstm = None if statistics else nn.LSTM(3, hidden_size, batch_first=True)
        self.norm = nn.BatchNorm1d(width)
        self.out = nn.Linear(width, style_size)
        self.writer = nn.Linear(style_size, writers) if writers else None
        self.table = nn.Embedding(table, style_size) if table else None

    def summary(self, strokes: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Each primed line's summary (N, width) and which rows are primed (B,)."""
        if self.lstm is not None:
            out, _ = self.lstm(strokes)
            points = mask.sum(1)
            primed = points > 0
            return (out[primed] * mask[primed, :, None]).sum(1) / points[primed, None], primed
        lengths = mask.sum(1).long().tolist()
        stats = [line_statistics(line[:n].detach().double().cpu().numpy(), self.shape)
                 if n else None for line, n in zip(strokes, lengths, strict=True)]
        primed = torch.tensor([x is not None for x in stats], device=strokes.device)
        rows = np.array([x for x in stats if x is not None]).reshape(-1, self.out.in_features)
        return torch.tensor(rows, dtype=strokes.dtype, device=strokes.device), primed

    def standardised(self, pooled: Tensor) -> Tensor:
        """Summaries (N, width) as `read` takes them: batch-normalised, measurements clamped."""
        normed = self.norm(pooled)
        if self.lstm is None:  # a measurement far off the training writers' stays bounded
            normed = normed.clamp(-4, 4)
        return normed

    def read(self, normed: Tensor, strength: float = 1.0) -> Tensor:
        """Standardised summaries (N, width) -> styles (N, S); `strength` scales the style
        before tanh: 0 is no particular hand, above 1 more of this one."""
        return torch.tanh(strength * self.out(normed))

    def forward(self, strokes: Tensor, mask: Tensor, strength: float = 1.0) -> Tensor:
        """strokes (B, T, 3) scaled as the network's input, mask (B, T) -> style (B, S)."""
        pooled, primed = self.summary(strokes, mask)
        style = strokes.new_zeros(len(strokes), self.out.out_features)
        if primed.sum() > (1 if self.training else 0):  # batch norm learns from 2 lines on
            style[primed] = self.read(self.standardised(pooled), strength)
        return style


# ---------------------------------------------------------------- the network


class State(NamedTuple):
    h: Tensor                   # (L, B, H)
    c: Tensor                   # (L, B, H)
    kappa: Tensor | None        # (B, K) window centres, synthesis only
    window: Tensor | None       # (B, V) last window, synthesis only


class HandwritingNet(nn.Module):
    """Prediction (`alphabet == ""`) or synthesis network; `forward` gives raw head output."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        H, V, S = cfg.hidden_size, self.text_size, cfg.style_size
        if V:
            # Layer 1 must run step by step: its input includes the previous step's window.
            self.cell = nn.LSTMCell(3 + V + S, H)
            self.window = Window(H, cfg.window_mixtures, cfg.chars_per_step)
        # The style comes last in every input, so `widen` can add it to a trained network.
        layers = [nn.LSTM(3 + V + (H if i else 0) + S, H, batch_first=True)
                  for i in range(1 if V else 0, cfg.num_layers)]
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(cfg.num_layers * H + V + S, 1 + 6 * cfg.num_mixtures)
        self.drop = nn.Dropout(cfg.dropout)
        if S:
            self.style_encoder = StyleEncoder(cfg.style_hidden, S, cfg.style_writers,
                                              cfg.style_statistics, cfg.style_shape,
                                              cfg.style_table)

    @property
    def text_size(self) -> int:
        """One-hot width: the alphabet plus index 0 for unknown characters."""
        return len(self.cfg.alphabet) + 1 if self.cfg.alphabet else 0

    def initial_state(self, batch_size: int) -> State:
        L, H, V = self.cfg.num_layers, self.cfg.hidden_size, self.text_size
        like = self.head.weight  # the state lives where the weights do, in their dtype
        zeros = like.new_zeros(L, batch_size, H)
        if not V:
            return State(zeros, zeros.clone(), None, None)
        return State(zeros, zeros.clone(), like.new_zeros(batch_size, self.cfg.window_mixtures),
                     like.new_zeros(batch_size, V))

    def forward(self, strokes: Tensor, text: Tensor | None = None,
                text_mask: Tensor | None = None, state: State | None = None,
                return_phi: bool = False, style: Tensor | None = None):
        """strokes (B, T, 3) -> raw head output (B, T, 1 + 6M) and the state after T steps.

        With `return_phi`, also the window weights (B, T, U + 1) for attention plots.
        `style` (B, S) from `encode_style`; None is the zero style.
        """
        head_in, new_state, phi = self.features(strokes, text, text_mask, state, style)
        raw = self.head(head_in)                                 # (B, T, 1 + 6M)
        return (raw, new_state, phi) if return_phi else (raw, new_state)

    def encode_style(self, primer: Tensor, mask: Tensor, strength: float = 1.0) -> Tensor:
        """Style vectors (B, S) of primer lines (B, T, 3), scaled like `strokes`."""
        return self.style_encoder(primer, mask, strength)

    def features(self, strokes: Tensor, text: Tensor | None = None,
                 text_mask: Tensor | None = None, state: State | None = None,
                 style: Tensor | None = None) -> tuple[Tensor, State, Tensor | None]:
        """What the head sees (B, T, L * H + V + S), the state after T steps and phi or None."""
        B, T, _ = strokes.shape
        state = state or self.initial_state(B)
        hs, cs, outputs, phis = [], [], [], []
        kappa = window = None
        styles = []  # the style, appended to every input
        if self.cfg.style_size:
            style = style if style is not None else strokes.new_zeros(B, self.cfg.style_size)
            styles = [style.to(strokes.dtype)[:, None].expand(B, T, -1)]
        if self.text_size:
            chars = F.one_hot(text, self.text_size).to(strokes.dtype)  # (B, U, V)
            h, c, kappa, window = state.h[0], state.c[0], state.kappa, state.window
            h1, windows = [], []
            for t in range(T):
                step_in = [strokes[:, t], window] + [s[:, t] for s in styles]
                h, c = self.cell(torch.cat(step_in, -1), (h, c))
                window, kappa, phi = self.window(h, kappa, chars, text_mask)
                h1.append(h)
                windows.append(window)
                phis.append(phi)
            hs.append(h[None])
            cs.append(c[None])
            outputs.append(self.drop(torch.stack(h1, 1)))      # (B, T, H)
            skip = torch.cat([strokes, torch.stack(windows, 1)], -1)  # (B, T, 3 + V)
        else:
            skip = strokes
        for layer in self.layers:
            i = len(hs)
            x = torch.cat([skip] + outputs[-1:] + styles, -1)
            out, (h, c) = layer(x, (state.h[i:i + 1].contiguous(), state.c[i:i + 1].contiguous()))
            outputs.append(self.drop(out))
            hs.append(h)
            cs.append(c)
        head_in = torch.cat(outputs + ([skip[..., 3:]] if self.text_size else []) + styles, -1)
        return (head_in, State(torch.cat(hs), torch.cat(cs), kappa, window),
                torch.stack(phis, 1) if phis else None)


# ---------------------------------------------------------------- growing and folding


def widen(net: HandwritingNet, weights: dict[str, Tensor]) -> None:
    """Load a trained network's `weights` into `net`, which may add a style input, more
    numbers of style, or more measurements to its style encoder.

    New columns and rows of a matrix start at zero, the rest as initialised (a new
    measurement's norm at 1; a learnt style's new numbers at random, so that the zero
    columns reading them have a gradient), so the widened network writes exactly as the
    trained one did until it learns to use them.
    """
    own = net.state_dict()
    # an embedding's rows are values (a learnt style each), not weights reading an input
    values = {f"{name}.weight" for name, module in net.named_modules()
              if isinstance(module, nn.Embedding)}
    for name, w in weights.items():
        if name not in own:
            raise ValueError(f"{name}: not in this network")
        if w.shape != own[name].shape:
            smaller = w.ndim == own[name].ndim and all(
                a <= b for a, b in zip(w.shape, own[name].shape, strict=True))
            if not smaller:
                raise ValueError(f"{name}: {tuple(w.shape)} does not fit "
                                 f"{tuple(own[name].shape)}")
            keep = w.ndim == 1 or name in values
            grown = own[name].clone() if keep else torch.zeros_like(own[name])
            grown[tuple(slice(0, n) for n in w.shape)] = w.to(grown.dtype)
            w = grown
        own[name] = w.float()
    net.load_state_dict(own)


@torch.no_grad()
def fold_style(net: HandwritingNet, style: Tensor) -> HandwritingNet:
    """A style-free copy of `net` writing in `style` (S,): its input columns times the style,
    added to the biases. Every sampler then writes in that hand at no cost per point."""
    S = net.cfg.style_size
    if not S:
        return net
    folded = HandwritingNet(ModelConfig(**{**asdict(net.cfg), "style_size": 0,
                                           "style_writers": 0, "style_table": 0}))
    weights = {k: v for k, v in net.state_dict().items() if not k.startswith("style_encoder.")}
    style = style.to(net.head.weight.dtype)
    for weight, bias in [("cell.weight_ih", "cell.bias_ih"), ("head.weight", "head.bias")] + [
            (f"layers.{i}.weight_ih_l0", f"layers.{i}.bias_ih_l0") for i in range(len(net.layers))]:
        if weight in weights:
            w = weights[weight]
            weights[bias] = weights[bias] + w[:, -S:] @ style
            weights[weight] = w[:, :-S]
    folded.load_state_dict(weights)
    return folded.eval()


# ---------------------------------------------------------------- checkpoints


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (`weights_only`: no code runs) and check its version."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such checkpoint") from None
    except Exception as e:  # torch raises many kinds for a corrupt or foreign file
        raise InkError(path, None, f"not a handwriter checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise InkError(path, None, f"unsupported checkpoint version {state.get('version')!r}"
                       if isinstance(state, dict) else "not a handwriter checkpoint")
    return state


def load_model(path: str | Path) -> tuple[HandwritingNet, dict]:
    """A ready-to-use network (fp32, eval mode) and its checkpoint dict."""
    state = load_checkpoint(path)
    kind = {"reader": "a reader checkpoint (for --reader)",
            "text": "a text model's checkpoint (for --text-model)"}.get(state.get("kind"))
    if kind:
        raise InkError(path, None, f"{kind}, not a handwriting model")
    net = HandwritingNet(ModelConfig(**state["model_config"]))
    net.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return net.eval(), state
