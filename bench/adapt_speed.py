"""How long and how much memory does `style add` take to adapt to a person's lines?

    python bench/adapt_speed.py [--data lines.npz] [--given 5] [--writers 8] [--threads 1]

Adapts the shipped synthesis model (`adapt.adapt`, its defaults, as `style add` does) to the
first GIVEN lines of each validation writer with more, one after another in this process,
and prints a markdown row per writer: the lines' points, steps, seconds and the process's
peak memory so far, then the stored style's size.
"""

from __future__ import annotations

import argparse
import io
import resource

import torch

from handwriter.adapt import adapt
from handwriter.data import MODEL_UNITS
from handwriter.ink import Ink
from handwriter.sample import Writer
from handwriter.train import TrainConfig, load_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--given", type=int, default=5)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(data=args.data, synthesis=True, max_points=700)
    by_writer: dict[str, list[Ink]] = {}
    for strokes, text, name in load_splits(cfg, "valid")["valid"]:
        by_writer.setdefault(name, []).append(Ink(strokes, text=text,
                                                  meta={"units": MODEL_UNITS}))
    writer = Writer.load(synthesis=True)
    print(f"torch threads: {torch.get_num_threads()}\n")
    print("| writer | points in the lines | steps | seconds | peak memory (MiB) |")
    print("|---|---:|---:|---:|---:|")
    names = sorted(w for w, own in by_writer.items() if len(own) >= args.given)
    for name in names[:args.writers]:
        inks = by_writer[name][:args.given]
        result = adapt(writer, inks)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"| {name} | {sum(map(len, inks))} | {result.steps} | {result.seconds:.0f} | "
              f"{peak:.0f} |", flush=True)
    stored = io.BytesIO()
    torch.save({"style": result.style}, stored)
    print(f"\nthe stored style: {len(stored.getvalue())} bytes")


if __name__ == "__main__":
    main()
