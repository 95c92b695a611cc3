"""Training throughput of the fused network vs a naive LSTMCell loop, and the matmul peak.

    python bench/train_speed.py [--threads 2] [--batch 64] [--steps 300]

Prints a markdown table for docs/BENCHMARKS.md, in fp32 and with bf16 autocast (what
`handwriter train --precision bf16` does). Point-steps/s counts forward + backward +
optimiser step. FLOPs per point-step = 6 x (multiply-adds of the matmuls per point):
2 for the forward pass, 4 for the backward pass (input and weight gradients).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from handwriter.model import HandwritingNet, ModelConfig, mixture_nll, split_mixture


class NaiveNet(nn.Module):
    """The same prediction network, one LSTMCell step at a time: what a direct port does."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        H = cfg.hidden_size
        self.cells = nn.ModuleList([nn.LSTMCell(3 + (H if i else 0), H)
                                    for i in range(cfg.num_layers)])
        self.head = nn.Linear(cfg.num_layers * H, 1 + 6 * cfg.num_mixtures)

    def forward(self, strokes: torch.Tensor) -> torch.Tensor:
        B, T, _ = strokes.shape
        H = self.cells[0].hidden_size
        state = [(strokes.new_zeros(B, H), strokes.new_zeros(B, H)) for _ in self.cells]
        outputs = []
        for t in range(T):
            below, hs = None, []
            for i, cell in enumerate(self.cells):
                x = strokes[:, t] if below is None else torch.cat([strokes[:, t], below], 1)
                state[i] = cell(x, state[i])
                below = state[i][0]
                hs.append(below)
            outputs.append(self.head(torch.cat(hs, 1)))
        return torch.stack(outputs, 1)


def matmul_flops_per_point(cfg: ModelConfig) -> int:
    H, L, M = cfg.hidden_size, cfg.num_layers, cfg.num_mixtures
    lstm = sum(4 * H * ((3 + (H if i else 0)) + H) for i in range(L))
    head = L * H * (1 + 6 * M)
    return 6 * (lstm + head)


def points_per_second(net: nn.Module, batch: int, length: int, steps: int,
                      forward, bf16: bool = False) -> float:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    strokes = torch.randn(batch, length, 3)
    strokes[..., 2] = (strokes[..., 2] > 1).float()
    mask = torch.ones(batch, length)

    def one_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # as --precision bf16
            raw = forward(net, strokes)
        nll = mixture_nll(split_mixture(raw.float()), strokes, mask)
        loss = nll.sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        one_step()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    return steps * batch * length / (time.perf_counter() - start)


def matmul_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 30) -> float:
    """FLOP/s of a large square matmul: the most this CPU does at this thread count."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return repeats * 2 * size ** 3 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=100, help="points per line")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ModelConfig()  # Graves' 3 x 400, 20 mixtures
    variants = {}
    for bf16, precision in ((False, "fp32"), (True, "bf16 autocast")):
        torch.manual_seed(0)
        variants[f"fused nn.LSTM (handwriter), {precision}"] = points_per_second(
            HandwritingNet(cfg), args.batch, args.length, args.steps,
            lambda net, s: net(s)[0], bf16)
        torch.manual_seed(0)
        variants[f"naive LSTMCell loop, {precision}"] = points_per_second(
            NaiveNet(cfg), args.batch, args.length, args.steps, lambda net, s: net(s), bf16)
    peak = matmul_peak(torch.float32)
    peak_bf16 = matmul_peak(torch.bfloat16)
    flops = matmul_flops_per_point(cfg)
    print(f"net {cfg.num_layers}x{cfg.hidden_size}, {cfg.num_mixtures} mixtures; batch "
          f"{args.batch} x {args.length} points; {args.threads} threads; torch "
          f"{torch.__version__}; {flops / 1e6:.2f} MFLOP per point-step\n")
    print("| variant | point-steps/s | GFLOP/s | % of fp32 matmul peak |")
    print("|---|---:|---:|---:|")
    for name, pps in variants.items():
        print(f"| {name} | {pps:,.0f} | {pps * flops / 1e9:.1f} | "
              f"{100 * pps * flops / peak:.0f}% |")
    print(f"| fp32 matmul 1024^3 | | {peak / 1e9:.1f} | 100% |")
    print(f"| bf16 matmul 1024^3 | | {peak_bf16 / 1e9:.1f} | {100 * peak_bf16 / peak:.0f}% |")
    naive = variants["naive LSTMCell loop, fp32"]
    print("\n" + "; ".join(f"{name} / naive fp32: {pps / naive:.2f}x"
                           for name, pps in variants.items() if name.startswith("fused")))


if __name__ == "__main__":
    main()
