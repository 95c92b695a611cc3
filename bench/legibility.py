"""How legible is what `write` writes? Character error rate of a recogniser reading it back.

    python bench/legibility.py --judge JUDGE.pt [--model synthesis.pt] [--seeds 3]

Writes each sentence below with several seeds and biases, picking drafts the two ways
`write_page` can (the shipped reader's choice, or window pacing without a reader), and
prints a markdown table for docs/BENCHMARKS.md. The judge should be a reader other than
the one that picked the drafts, or the picking reader's numbers flatter it. The judge of
docs/BENCHMARKS.md (25-26% CER on real ink, about 11 minutes on two threads):

    handwriter train-reader --seed 1 --hidden 160 --steps 2000 --data lines.npz --out judge

The judge's CER on real ink of held-out writers, printed first, is the baseline: what it
makes of human writing.

With `--primed`, each seed's sentences are also written primed with a real line of a
validation writer (never trained on; seed k takes writer k), next to the same sentences
unprimed: does writing in a stranger's hand cost legibility? A line after the table gives
the ratio of the two CERs with a 90% bootstrap interval over seeds (the same seeds and
sentences are written both ways, so seeds are resampled in pairs).

Judges trained alike (only the seed differs) disagree on that ratio by about as much as
the models being compared do, so `--judge` takes several: the table then shows their
pooled CER, and the ratio is given for each judge and pooled.

With `--adapted G`, instead a table per validation writer with more than G lines: the
sentences written (bias 0.75, drafts picked by the shipped reader, as `write` does) in the
style adapted to their first G lines (`adapt.adapt`, as `style add` does) and unstyled.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from handwriter.adapt import AdaptConfig, adapt
from handwriter.data import MODEL_UNITS
from handwriter.ink import Ink
from handwriter.model import load_checkpoint
from handwriter.reader import InkReader, edit_distance
from handwriter.sample import WRITING, Writer
from handwriter.train import TrainConfig, load_splits, writer_primers
from handwriter.writing import write_page

SENTENCES = [
    "The quick brown fox jumps over the lazy dog",
    "Meet me at the station at half past nine.",
    "Thank you for the lovely flowers",
    "She sells sea shells by the sea shore",
    "A journey of a thousand miles begins",
    "Please buy milk, bread and two lemons",
    "Happy birthday, with love from all of us",
    "We will walk home along the river",
]


def score(judges: list[InkReader], inks: list[Ink]) -> np.ndarray:
    """Per judge: character edits, characters, words, words read exactly."""
    counts = np.zeros((len(judges), 4), dtype=np.int64)
    for counted, judge in zip(counts, judges, strict=True):
        for ink, read in zip(inks, judge.read(inks), strict=True):
            truth, got = ink.text.split(), read.split()
            counted += (edit_distance(read, ink.text), len(ink.text), len(truth),
                        sum(w in got for w in truth))
    return counts


def ratio_interval(primed: np.ndarray, unprimed: np.ndarray, draws: int = 10000
                   ) -> tuple[float, float, float]:
    """CER ratio of per-seed `(edits, chars)` counts, and its 5th and 95th percentiles over
    seeds resampled with replacement (paired)."""
    def ratio(rows: np.ndarray) -> np.ndarray:
        a, b = primed[rows].sum(-2), unprimed[rows].sum(-2)
        return (a[..., 0] / a[..., 1]) / (b[..., 0] / b[..., 1])

    rows = np.random.default_rng(0).integers(0, len(primed), (draws, len(primed)))
    low, high = np.percentile(ratio(rows), [5, 95])
    return float(ratio(np.arange(len(primed)))), float(low), float(high)


def adapted_table(writer: Writer, judges: list[InkReader], data: str, given: int,
                  seeds: int, share: float) -> None:
    """Per validation writer: the judges' pooled CER unstyled and in their adapted style."""
    cfg = TrainConfig(data=data, synthesis=True, max_points=700)
    by_writer: dict[str, list[Ink]] = {}
    for strokes, text, name in load_splits(cfg, "valid")["valid"]:
        by_writer.setdefault(name, []).append(Ink(strokes, text=text,
                                                  meta={"units": MODEL_UNITS}))
    picker = InkReader.load()
    print(f"| writer | unstyled | adapted to {given} lines | ratio |")
    print("|---|---:|---:|---:|")
    totals = np.zeros((2, 2))
    for name in sorted(w for w, own in by_writer.items() if len(own) > given):
        adapted = adapt(writer, by_writer[name][:given], AdaptConfig(minutes=60, share=share))
        styled = writer.styled(adapted.style)
        counts = np.zeros((2, 2))
        for seed in range(seeds):
            for row, model in enumerate((writer, styled)):
                inks = write_page(model, SENTENCES, replace(WRITING, seed=seed), reader=picker)
                counts[row] += score(judges, inks).sum(0)[:2]
        totals += counts
        cer = counts[:, 0] / counts[:, 1]
        print(f"| {name} | {cer[0]:.1%} | {cer[1]:.1%} | {cer[1] / cer[0]:.2f}× |", flush=True)
    cer = totals[:, 0] / totals[:, 1]
    print(f"| all | {cer[0]:.1%} | {cer[1]:.1%} | {cer[1] / cer[0]:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", required=True, nargs="+",
                        help="reader checkpoints that score (several: each judge's ratio, and "
                             "their CERs pooled)")
    parser.add_argument("--model", help="synthesis checkpoint (default: shipped)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--biases", type=float, nargs="+", default=[0.5, 0.75, 1.0])
    parser.add_argument("--candidates", type=int, default=WRITING.candidates)
    parser.add_argument("--segment", type=int, default=WRITING.segment)
    parser.add_argument("--pickers", nargs="+", default=["reader", "pacing"])
    parser.add_argument("--style-strength", type=float, default=WRITING.style_strength,
                        help="how much of the primer's hand (with --primed)")
    parser.add_argument("--primed", action="store_true",
                        help="also write primed with validation writers' real lines")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz",
                        help="lines.npz whose validation writers prime (with --primed)")
    parser.add_argument("--adapted", type=int, default=0, metavar="GIVEN",
                        help="per writer, in the style adapted to their first GIVEN lines")
    parser.add_argument("--share", type=float, default=AdaptConfig.share,
                        help="with --adapted: how far the style moves from its reading to the fit")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    writer = Writer.load(args.model, synthesis=True)
    judges, picker = [InkReader.load(path) for path in args.judge], InkReader.load()
    baselines = [load_checkpoint(path)["valid"]["cer"] for path in args.judge]
    print("judges' CER on real ink of held-out writers:",
          ", ".join(f"{cer:.1%}" for cer in baselines), "\n")
    if args.adapted:
        adapted_table(writer, judges, args.data, args.adapted, args.seeds, args.share)
        return
    primers = [None] + ([writer_primers(args.data)] if args.primed else [])
    print("| bias | drafts picked by | primer | judge's CER | words read exactly | s per line |")
    print("|---:|---|---|---:|---:|---:|")
    for bias in args.biases:
        for name, reader in (("reader", picker), ("pacing", None)):
            if name not in args.pickers:
                continue
            per_seed = []  # per primer: (judges, seeds, 2) edits and characters
            for real in primers:
                counts = np.zeros(4, dtype=np.int64)
                per_seed.append(np.zeros((len(judges), args.seeds, 2)))
                t0 = time.time()
                for seed in range(args.seeds):
                    cfg = replace(WRITING, seed=seed, bias=bias, candidates=args.candidates,
                                  segment=args.segment, style_strength=args.style_strength)
                    primer = real[seed % len(real)] if real else None
                    inks = write_page(writer, SENTENCES, cfg, primer=primer,
                                      primer_text=primer.text if primer else "", reader=reader)
                    seed_counts = score(judges, inks)
                    counts += seed_counts.sum(0)
                    per_seed[-1][:, seed] = seed_counts[:, :2]
                seconds = (time.time() - t0) / (args.seeds * len(SENTENCES))
                edits, chars, words, exact = counts
                label = "a validation writer's line" if real else "none"
                print(f"| {bias} | {name} | {label} | {edits / chars:.1%} | {exact / words:.0%} "
                      f"| {seconds:.1f} |", flush=True)
            if len(per_seed) == 2:
                primed, unprimed = per_seed[1], per_seed[0]
                pairs = [*zip(primed, unprimed, strict=True), (primed.sum(0), unprimed.sum(0))]
                for j, (a, b) in enumerate(pairs[:-1] if len(judges) == 1 else pairs):
                    who = f"judge {j + 1}" if j < len(judges) else "judges pooled"
                    ratio, low, high = ratio_interval(a, b)
                    print(f"| {bias} | {name} | primed / none, {who} | {ratio:.2f}× (90%: "
                          f"{low:.2f}-{high:.2f}) | | |", flush=True)


if __name__ == "__main__":
    main()
