"""Looking inside a model: Graves' figure 10 (predictive density) and 12 (attention)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .data import START  # noqa: E402
from .ink import atomic_write, output_kind  # noqa: E402
from .model import split_mixture  # noqa: E402
from .sample import SampleConfig, Writer, generate  # noqa: E402

FIGURE_FORMATS = (".png", ".svg", ".pdf")


def check_figure_path(path: str | Path) -> str:
    """The format `path` names (matplotlib's name for it), or a clear error before any work."""
    return output_kind(path, FIGURE_FORMATS, "a figure").lstrip(".")


def save_figure(fig, path: str | Path) -> None:
    kind = check_figure_path(path)
    atomic_write(path, lambda f: fig.savefig(f, format=kind))
    plt.close(fig)


@torch.no_grad()
def plot_density(writer: Writer, cfg: SampleConfig, path: str | Path, grid: int = 400) -> None:
    """A sampled line over the density the network predicted for each next point, and the
    probability of lifting the pen at each step (Graves figure 10)."""
    ink = generate(writer, SampleConfig(**{**cfg.__dict__, "n": 1}))[0][0]
    scaled = ink.strokes.copy()
    scaled[:, :2] /= writer.offset_scale
    inputs = torch.from_numpy(np.concatenate([START, scaled[:-1]]))[None]
    raw, _ = writer.net(inputs)
    mix = split_mixture(raw[0])
    points = ink.points / writer.offset_scale                   # (T, 2) where each point lands
    before = np.concatenate([[[0.0, 0.0]], points[:-1]])         # where the pen was
    lo, hi = points.min(0) - 1, points.max(0) + 1
    xs = np.linspace(lo[0], hi[0], grid)
    ys = np.linspace(lo[1], hi[1], max(int(grid * (hi[1] - lo[1]) / (hi[0] - lo[0])), 20))
    gx, gy = np.meshgrid(xs, ys)
    density = np.zeros_like(gx)
    weight, mu = mix.log_weight.exp().numpy(), mix.mu.numpy()
    sigma, rho = mix.log_sigma.exp().numpy(), mix.rho.numpy()
    for t in range(len(points)):
        for k in np.argsort(weight[t])[-3:]:   # the three heaviest components carry the shape
            cx, cy = before[t] + mu[t, k]
            sx, sy, r = sigma[t, k, 0], sigma[t, k, 1], rho[t, k]
            if max(abs(cx - gx[0, 0]), abs(cy - gy[0, 0])) > 1e3:
                continue
            zx, zy = (gx - cx) / sx, (gy - cy) / sy
            q = (zx ** 2 + zy ** 2 - 2 * r * zx * zy) / (1 - r ** 2)
            density += weight[t, k] * np.exp(-q / 2) / (2 * np.pi * sx * sy * np.sqrt(1 - r ** 2))
    ink_height = 12 * (ys[-1] - ys[0]) / (hi[0] - lo[0])  # inches, at 12 inches wide
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, ink_height + 2.5), dpi=110,
                                      gridspec_kw={"height_ratios": [ink_height, 2]})
    top.imshow(np.log1p(density), origin="lower", cmap="magma_r",
               extent=(lo[0], hi[0], ys[0], ys[-1]), aspect="equal")
    for stroke in ink.stroke_list:
        stroke = stroke / writer.offset_scale
        top.plot(stroke[:, 0], stroke[:, 1], color="tab:blue", lw=0.6)
    top.set_title("predicted density of the next point (log scale) and the sampled line")
    top.axis("off")
    bottom.plot(torch.sigmoid(mix.pen_lift_logit).numpy(), lw=0.8)
    bottom.set_xlabel("step")
    bottom.set_ylabel("P(pen lift)")
    bottom.set_xlim(0, len(points))
    fig.tight_layout()
    save_figure(fig, path)


def plot_attention(writer: Writer, text: str, cfg: SampleConfig, path: str | Path) -> None:
    """The written line above the window weights over its characters (Graves figure 12):
    an aligned model shows a rising diagonal."""
    inks, phis = generate(writer, SampleConfig(**{**cfg.__dict__, "n": 1}), [text])
    ink, phi = inks[0], phis[0].numpy()[:, :len(text)]          # (T, U)
    # each step scaled to its own peak: where the window is, not how heavy it is
    phi = phi / np.maximum(phi.max(1, keepdims=True), 1e-12)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), dpi=110,
                                      gridspec_kw={"height_ratios": [1, 2]})
    for stroke in ink.stroke_list:
        top.plot(stroke[:, 0], stroke[:, 1], color="black", lw=1)
    top.set_aspect("equal")
    top.axis("off")
    top.set_title(f"{text!r}" + ("" if ink.meta["finished"] else " (stopped at the cap)"))
    bottom.set_title("window weights over the characters (each step scaled to its peak)",
                     fontsize=9)
    bottom.imshow(phi.T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest")
    bottom.set_yticks(range(len(text)), ["␣" if c == " " else c for c in text], fontsize=7)
    bottom.set_xlabel("pen point")
    bottom.set_ylabel("character")
    fig.tight_layout()
    save_figure(fig, path)
