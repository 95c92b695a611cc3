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

With `--adapted G`, instead a table per writer of `--split` with more than G lines: the
sentences written as `write` writes them (drafts picked by the shipped reader), unstyled
and in the style adapted to the writer's first G lines (`adapt.adapt`, as `style add` does)
taken each of `--shares` of the way from its reading to the fit, at each of `--biases`; per
cell the judges' CER and the writer-id judge's top-1 (bench/writer_id.py): does the line
read as well, and is it the writer's hand?
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np
import torch
from writer_id import descriptors, fit_judge

from handwriter.adapt import AdaptConfig, adapt
from handwriter.cli import add_config_flags, config_from_args
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
                  seeds: int, shares: list[float], biases: list[float], split: str,
                  lean: float = WRITING.lean, candidates: int = WRITING.candidates,
                  fitting: AdaptConfig | None = None) -> None:
    """Per writer of `split` with more than `given` lines, for each bias and share: the
    judges' pooled CER of the sentences unstyled and in the style adapted to the writer's
    first `given` lines (each line leaned `lean` of the way to their slant), and whose hand
    the writer-id judge (bench/writer_id.py) takes each written line for, among the split's
    writers enrolled from all their real lines. Every writer's sentences are the same, so
    unstyled lines are told apart by chance only."""
    cfg = TrainConfig(data=data, synthesis=True, max_points=700)
    lines = load_splits(cfg, "train", split)
    identify = fit_judge(lines["train"])
    by_writer: dict[str, list[Ink]] = {}
    for strokes, text, name in lines[split]:
        by_writer.setdefault(name, []).append(Ink(strokes, text=text,
                                                  meta={"units": MODEL_UNITS}))
    enrolled = {}
    for name, own in by_writer.items():
        features = [f for f in (descriptors(ink.strokes, ink.text) for ink in own)
                    if f is not None]
        if len(features) >= 4:
            enrolled[name] = np.stack(features)
    names = sorted(w for w, own in by_writer.items() if len(own) > given and w in enrolled)
    picker, fits = InkReader.load(), {}
    fitting = fitting or AdaptConfig(minutes=60)  # all its steps
    for name in names:  # fitted all the way once; a share is a point between
        fits[name] = adapt(writer, by_writer[name][:given], fitting)
    settings = [(bias, share) for bias in biases for share in [None, *shares]]
    cer = np.zeros((len(names), len(settings), 2))  # edits, characters
    top1 = np.zeros((len(names), len(settings)))
    unstyled = {}  # (bias, seed) -> the page, the same for every writer
    for column, (bias, share) in enumerate(settings):
        for row, name in enumerate(names):
            model = writer if share is None else writer.styled(
                fits[name].at(share)).leaning(by_writer[name][:given])
            for seed in range(seeds):
                cfg = replace(WRITING, seed=seed, bias=bias, lean=lean, candidates=candidates)
                if share is None and (bias, seed) in unstyled:
                    inks = unstyled[bias, seed]
                else:
                    inks = write_page(model, SENTENCES, cfg, reader=picker)
                if share is None:
                    unstyled[bias, seed] = inks
                cer[row, column] += score(judges, inks).sum(0)[:2]
                queries = [(descriptors(ink.strokes, ink.text), name) for ink in inks]
                ranks = identify.ranks([q for q in queries if q[0] is not None], enrolled)
                top1[row, column] += (ranks == 1).sum() / (len(ranks) * seeds)
        print(f"bias {bias}, share {share}: done", file=sys.stderr, flush=True)
    heads = [f"bias {b}, " + ("unstyled" if s is None else f"share {s}") for b, s in settings]
    print(f"{len(names)} writers adapted to {given} lines, {len(enrolled)} enrolled (chance "
          f"{1 / len(enrolled):.0%}); cells: judges' CER (ratio to unstyled at the same bias), "
          "writer-id top-1\n")
    print("| writer | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(settings))

    def cells(counts: np.ndarray, hits: np.ndarray) -> list[str]:
        rate = counts[:, 0] / counts[:, 1]
        out = []
        for column, (bias, share) in enumerate(settings):
            unstyled = settings.index((bias, None))
            ratio = "" if share is None else f" ({rate[column] / rate[unstyled]:.2f}×)"
            out.append(f"{rate[column]:.1%}{ratio}, {hits[column]:.0%}")
        return out

    for row, name in enumerate(names):
        print(f"| {name} | " + " | ".join(cells(cer[row], top1[row])) + " |")
    print("| **all** | " + " | ".join(cells(cer.sum(0), top1.mean(0))) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", required=True, nargs="+",
                        help="reader checkpoints that score (several: each judge's ratio, and "
                             "their CERs pooled)")
    parser.add_argument("--model", help="synthesis checkpoint (default: shipped)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--biases", type=float, nargs="+",
                        help="default 0.5 0.75 1.0; with --adapted, 0.75")
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
    parser.add_argument("--shares", type=float, nargs="+", default=[AdaptConfig.share],
                        help="with --adapted: how far the style moves from its reading to the fit")
    parser.add_argument("--split", default="valid", choices=["valid", "test"],
                        help="with --adapted: whose writers")
    add_config_flags(parser, AdaptConfig, skip=("minutes", "share"))  # with --adapted
    parser.add_argument("--lean", type=float, default=WRITING.lean,
                        help="with --adapted: how far each styled line leans to the writer's slant")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    writer = Writer.load(args.model, synthesis=True)
    judges, picker = [InkReader.load(path) for path in args.judge], InkReader.load()
    baselines = [load_checkpoint(path)["valid"]["cer"] for path in args.judge]
    print("judges' CER on real ink of held-out writers:",
          ", ".join(f"{cer:.1%}" for cer in baselines), "\n")
    if args.adapted:
        adapted_table(writer, judges, args.data, args.adapted, args.seeds, args.shares,
                      args.biases or [WRITING.bias], args.split, args.lean, args.candidates,
                      replace(config_from_args(AdaptConfig, args), minutes=60))
        return
    primers = [None] + ([writer_primers(args.data)] if args.primed else [])
    print("| bias | drafts picked by | primer | judge's CER | words read exactly | s per line |")
    print("|---:|---|---|---:|---:|---:|")
    for bias in args.biases or [0.5, 0.75, 1.0]:
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
