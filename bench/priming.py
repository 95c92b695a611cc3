"""Does priming with a writer's line make the model expect that writer's hand?

    python bench/priming.py [--model synthesis.pt] [--data lines.npz] [--split valid]

For each validation writer (never trained on) with two lines or more, each of their lines is
scored three ways, in nats per point of that line alone: unprimed; after another line of the
same writer (primer ink and text run through the network first, the line written on after
it as `data.join_lines` places it, as in `train --pairs`); after a line of another writer.
Same-writer priming should win clearly. Prints markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from importlib import resources

import torch

from handwriter.data import collate, encode_text, join_lines
from handwriter.model import load_model, mixture_nll, split_mixture
from handwriter.train import TrainConfig, load_splits


@torch.no_grad()
def nats(net, offset_scale: float, alphabet: str, jobs: list[tuple], batch: int = 32
         ) -> tuple[float, int]:
    """Total NLL of each job's line and its points; a job is (primer or None, line)."""
    total, points = 0.0, 0
    for start in range(0, len(jobs), batch):
        strokes, texts, skip = [], [], []
        for primer, (line, text) in jobs[start:start + batch]:
            if primer is None:
                strokes.append(line)
                texts.append(text)
                skip.append(0)
            else:
                strokes.append(join_lines(primer[0], line))
                texts.append(f"{primer[1]} {text}")
                skip.append(len(primer[0]) + 1)  # the primer and the move to the line
        b = collate(strokes, [encode_text(t, alphabet) for t in texts], offset_scale)
        for i, n in enumerate(skip):
            b.mask[i, :n] = 0
        raw, _ = net(b.strokes_in, b.text, b.text_mask)
        total += float(mixture_nll(split_mixture(raw), b.strokes_out, b.mask).sum())
        points += int(b.mask.sum())
    return total + 2 * math.log(offset_scale) * points, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", default=[None],
                        help="synthesis checkpoints (default: the shipped one)")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--split", default="valid", choices=["valid", "test"])
    parser.add_argument("--max-points", type=int, default=700, help="longest line scored")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = replace(TrainConfig(data=args.data), synthesis=True, max_points=args.max_points)
    lines = load_splits(cfg, args.split)[args.split]
    by_writer: dict[str, list] = {}
    for strokes, text, writer in lines:
        by_writer.setdefault(writer, []).append((strokes, text))
    writers = sorted(w for w, own in by_writer.items() if len(own) >= 2)
    same, other, alone = [], [], []
    for k, writer in enumerate(writers):
        own, stranger = by_writer[writer], by_writer[writers[(k + 1) % len(writers)]]
        for i, line in enumerate(own):
            alone.append((None, line))
            same.append((own[(i + 1) % len(own)], line))
            other.append((stranger[i % len(stranger)], line))
    print(f"{len(alone)} lines of {len(writers)} {args.split} writers with two lines or more\n")
    print("| model | unprimed | primed, same writer | primed, another writer |")
    print("|---|---:|---:|---:|")
    for model in args.model:
        model = model or resources.files("handwriter") / "models" / "synthesis.pt"
        net, state = load_model(model)
        row = []
        for jobs in (alone, same, other):
            total, points = nats(net, state["offset_scale"], net.cfg.alphabet, jobs)
            row.append(f"{total / points:.3f}")
        print(f"| {model} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
