"""Sampling speed: handwriter's `generate` vs a naive loop, and what the matrix products cost.

    python bench/sample_speed.py [--threads 1] [--points 300] [--batches 1 64] [--clock cpu]
                                 [--columns generate int8 ...] [--models graves ...]

Columns, points per second: `generate` (a LinePen at batch 1, `draw_batch` above); the
same with int8 products (`SampleConfig.int8`); the torch batch loop `draw_batch` at that
batch too (at batch 1, what `generate` did before LinePen); a naive loop that calls
`HandwritingNet.forward` on one point at a time, as a direct port would; and the step's
matrix products alone (the stacked weights in fp32, then the int8 sampler's), the bound no
step can beat without faster products. `--threads` sets torch's threads and numpy's BLAS
threads alike. Candidates alternate within each
repeat and the median is shown, so a load that comes and goes hits them alike.
`--clock cpu` counts the process's CPU time instead of wall time: on a busy machine that
measures the work, not the scheduler. Models: the two shipped (3x256) and Graves' 3x400
prediction network (random weights: speed does not depend on them).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from handwriter.data import START, encode_text
from handwriter.model import HandwritingNet, ModelConfig, sample_point, split_mixture
from handwriter.sample import (
    SampleConfig,
    Sampler,
    Writer,
    blas_threads,
    draw_batch,
    encode_texts,
    generate,
    start_pen,
)

TEXT = "the quick brown fox jumps over the lazy dog and runs far away into the night"


def texts_for(writer: Writer, batch: int) -> list[str] | None:
    return [TEXT] * batch if writer.net.text_size else None


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


def ours(writer: Writer, batch: int, points: int, int8: bool = False) -> int:
    inks, _ = generate(writer, SampleConfig(n=batch, max_points=points, int8=int8),
                       texts_for(writer, batch))
    return sum(len(ink) for ink in inks)


@torch.inference_mode()
def batch_loop(writer: Writer, batch: int, points: int) -> int:
    texts, codes = texts_for(writer, batch), None
    chars = mask = ends = None
    if texts:
        codes, mask, ends = encode_texts(writer, texts)
        chars = F.one_hot(codes, writer.net.text_size).float()
    lines, *_ = draw_batch(writer.sampler, SampleConfig(max_points=points),
                           start_pen(writer, batch, codes, mask), chars, mask, ends,
                           torch.Generator().manual_seed(0))
    return sum(len(line) for line in lines)


@torch.inference_mode()
def products(sampler: Sampler, batch: int, points: int) -> int:
    """Only the matrix products of `points` steps, on inputs of the right shapes: at batch 1
    as `LinePen` multiplies (`Linear.into`, numpy's BLAS on torch's thread count), else
    torch's `addmm` as `Sampler.step` does."""
    linears = [*sampler.layers, sampler.head] + ([sampler.window] if sampler.window else [])
    inputs = [torch.randn(batch, len(linear.weight)) for linear in linears]
    if batch == 1:
        rows = [(x[0].numpy(), np.empty(len(linear.bias), np.float32))
                for x, linear in zip(inputs, linears, strict=True)]
        with blas_threads():
            for _ in range(points):
                for (x, out), linear in zip(rows, linears, strict=True):
                    linear.into(x, out)
        return points
    for _ in range(points):
        for x, linear in zip(inputs, linears, strict=True):
            linear(x)
    return batch * points


def rates(runs: dict, clock, repeats: int) -> dict[str, float]:
    """Median points per second of each run over `repeats` rounds, the runs alternating
    within a round, after one warm-up each."""
    for run in runs.values():
        run()
    seen: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = clock()
            points = run()
            seen[name].append(points / (clock() - start))
    return {name: statistics.median(r) for name, r in seen.items()}


COLUMNS = {  # name: (heading, run(writer, batch, points) -> points drawn)
    "generate": ("generate points/s", ours),
    "int8": ("generate, int8", lambda w, b, p: ours(w, b, p, int8=True)),
    "batch": ("torch batch loop", batch_loop),
    "naive": ("naive loop", naive),
    "products": ("matrix products alone (bound)", lambda w, b, p: products(w.sampler, b, p)),
    "products-int8": ("products alone, int8", lambda w, b, p: products(w.int8_sampler, b, p)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--columns", nargs="+", choices=list(COLUMNS), default=list(COLUMNS))
    parser.add_argument("--models", nargs="+", choices=["unconditional", "synthesis", "graves"],
                        default=["unconditional", "synthesis", "graves"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    graves = HandwritingNet(ModelConfig(hidden_size=400)).eval()
    writers = {"unconditional": ("unconditional 3x256 (shipped)", Writer.load),
               "synthesis": ("synthesis 3x256 (shipped)", lambda: Writer.load(synthesis=True)),
               "graves": ("Graves 3x400 (random weights)",
                          lambda: Writer(graves, {"offset_scale": 1.0}))}
    print(f"{args.points} points per line; {args.threads} thread(s); {args.clock} clock; "
          f"median of {args.repeats}; torch {torch.__version__}\n")
    print("| model | batch | " + " | ".join(COLUMNS[c][0] for c in args.columns) + " |")
    print("|---|---:|" + "---:|" * len(args.columns))
    for model in args.models:
        name, load = writers[model]
        writer = load()
        for batch in args.batches:
            runs = {c: lambda f=COLUMNS[c][1], w=writer, b=batch: f(w, b, args.points)
                    for c in args.columns}
            r = rates(runs, clock, args.repeats)
            print(f"| {name} | {batch} | " + " | ".join(f"{r[c]:,.0f}" for c in args.columns)
                  + " |", flush=True)


if __name__ == "__main__":
    main()
