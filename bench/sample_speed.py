"""Sampling speed: handwriter's `generate` vs a naive loop over the training-time modules.

    python bench/sample_speed.py [--threads 1] [--points 300] [--batches 1 64]

The naive loop is what a direct port does: call `HandwritingNet.forward` on one point at a
time, carrying the state, then split the mixture and draw. Models: the two shipped (3x256)
and Graves' 3x400 prediction network (random weights: speed does not depend on them).
Batch 1 is one live line, as the studio streams it. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

from handwriter.data import START, encode_text
from handwriter.model import HandwritingNet, ModelConfig, sample_point, split_mixture
from handwriter.sample import SampleConfig, Writer, generate

TEXT = "the quick brown fox jumps over the lazy dog and runs far away into the night"


@torch.no_grad()
def naive(writer: Writer, batch: int, points: int) -> int:
    net = writer.net
    generator = torch.Generator().manual_seed(0)
    point = torch.from_numpy(START).expand(batch, 3).clone()
    text = mask = None
    if net.text_size:
        text = torch.from_numpy(encode_text(TEXT, net.cfg.alphabet)).expand(batch, -1)
        mask = torch.ones(text.shape)
    state = None
    for _ in range(points):
        raw, state = net(point[:, None], text, mask, state)
        point = sample_point(split_mixture(raw[:, 0]), generator)
    return batch * points


def ours(writer: Writer, batch: int, points: int) -> int:
    texts = [TEXT] * batch if writer.net.text_size else None
    inks, _ = generate(writer, SampleConfig(n=batch, max_points=points), texts)
    return sum(len(ink) for ink in inks)


def rate(run, repeats: int = 3) -> float:
    """Best points per second of `repeats` runs, after one warm-up."""
    run()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        points = run()
        best = max(best, points / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    graves = HandwritingNet(ModelConfig(hidden_size=400)).eval()
    writers = {"unconditional 3x256 (shipped)": Writer.load(),
               "synthesis 3x256 (shipped)": Writer.load(synthesis=True),
               "Graves 3x400 (random weights)": Writer(graves, {"offset_scale": 1.0})}
    print(f"{args.points} points per line; {args.threads} thread(s); torch {torch.__version__}\n")
    print("| model | batch | handwriter points/s | naive loop points/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, writer in writers.items():
        for batch in args.batches:
            fast = rate(lambda w=writer, b=batch: ours(w, b, args.points))
            slow = rate(lambda w=writer, b=batch: naive(w, b, args.points))
            print(f"| {name} | {batch} | {fast:,.0f} | {slow:,.0f} | {fast / slow:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
