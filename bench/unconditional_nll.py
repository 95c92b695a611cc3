"""Likelihood of ink alone on held-out writers: stroke-only networks and the two-step model.

    python bench/unconditional_nll.py --models unconditional.pt runs/tf2x256/best.pt \
        [--synthesis synthesis.pt] [--text-model text.pt] [--splits valid test]

Every model scores the same lines: those of the split whose transcription the synthesis
model can write. A stroke-only network (Graves section 4) gives log p(ink) itself. The
two-step model of `sample` (a character model drafts the text, the synthesis model writes
it) gives p(ink) = sum over texts of p(text) p(ink | text); the sum is out of reach, so
its one term for the true text stands in: log p(text) + log p(ink | text), a lower bound on
log p(ink), in the zero style that `sample` writes in. Prints markdown for
docs/BENCHMARKS.md: nats per line and per point, lower is better.
"""

from __future__ import annotations

import argparse

import torch

from handwriter.model import load_model
from handwriter.sample import Writer
from handwriter.text_model import TextModel, text_nats
from handwriter.train import TrainConfig, evaluate, line_set, load_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=[],
                        help="stroke-only checkpoints to score beside the two-step model")
    parser.add_argument("--synthesis", help="synthesis checkpoint (default: the shipped one)")
    parser.add_argument("--text-model", help="text model (default: the shipped one)")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--splits", nargs="+", default=["valid", "test"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    writer = Writer.load(args.synthesis, synthesis=True)
    synthesis = writer.style_net or writer.net  # style None below: the zero style
    text_model = TextModel.load(args.text_model)
    alphabet = set(writer.alphabet)
    splits = load_splits(TrainConfig(data=args.data), *args.splits)
    print("| model | split | lines | points | nats per line | nats per point |")
    print("|---|---|---:|---:|---:|---:|")
    for split, lines in splits.items():
        lines = [line for line in lines if line[1].strip() and set(line[1]) <= alphabet]
        ink = evaluate(synthesis, line_set(lines, writer.alphabet), writer.offset_scale)
        text = text_nats(text_model, [t.strip() for _, t, _ in lines])
        per_line = ink["nats_per_sequence"] + text["nats_per_line"]
        rows = [("two-step, bound (text + ink given text)", per_line,
                 per_line * len(lines) / ink["points"]),
                ("  of which the text", text["nats_per_line"],
                 text["nats_per_line"] * len(lines) / ink["points"]),
                ("  of which the ink given its text", ink["nats_per_sequence"],
                 ink["nats_per_point"])]
        for path in args.models:
            net, state = load_model(path)
            result = evaluate(net, line_set(lines, ""), state["offset_scale"])
            rows.append((path, result["nats_per_sequence"], result["nats_per_point"]))
        for name, nats_line, nats_point in rows:
            print(f"| {name} | {split} | {len(lines)} | {ink['points']:,} | {nats_line:.1f} | "
                  f"{nats_point:.3f} |", flush=True)


if __name__ == "__main__":
    main()
