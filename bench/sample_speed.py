"""Sampling speed: handwriter's `generate` vs a naive loop over the training-time modules.

    python bench/sample_speed.py [--model CKPT] [--threads 1] [--points 300]

The naive loop is what a direct port does: call `HandwritingNet.forward` on one point at a
time, carrying the state, then split the mixture and draw. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

from handwriter.data import START
from handwriter.model import sample_point, split_mixture
from handwriter.sample import SampleConfig, Writer, generate


@torch.no_grad()
def naive(writer: Writer, batch: int, points: int) -> None:
    net = writer.net
    generator = torch.Generator().manual_seed(0)
    point = torch.from_numpy(START).expand(batch, 3).clone()
    state = None
    for _ in range(points):
        raw, state = net(point[:, None], state=state)
        point = sample_point(split_mixture(raw[:, 0]), generator)


def rate(run, batch: int, points: int, repeats: int = 3) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return batch * points / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the shipped unconditional one)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--points", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    writer = Writer.load(args.model)
    cfg = writer.net.cfg
    print(f"model {cfg.num_layers}x{cfg.hidden_size}, {cfg.num_mixtures} mixtures; "
          f"{args.points} points per line; {args.threads} thread(s); torch "
          f"{torch.__version__}\n")
    print("| batch | handwriter points/s | naive loop points/s | speed-up |")
    print("|---:|---:|---:|---:|")
    for batch in (1, 64):
        ours = rate(lambda b=batch: generate(writer, SampleConfig(n=b, max_points=args.points)),
                    batch, args.points)
        theirs = rate(lambda b=batch: naive(writer, b, args.points), batch, args.points)
        print(f"| {batch} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
