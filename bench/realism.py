"""Does `sample` write like a person? A classifier two-sample test and a word count.

    python bench/realism.py [--model unconditional SYNTH.pt ...] [--biases 0 0.5] [--lines N]
                            [--seeds N] [--texts own] [--split test|train] [--others]

`--model` takes what `sample --model` takes: a checkpoint, "unconditional" (the shipped
stroke-only network), "synthesis" (the network `write` uses) or "shipped" (the default: text
drafted by the shipped text model, written by `sample`'s network, "sample"); `--words` and
`--candidates` what `sample`'s take (`--words any`: the drafter before issue 28). `--lines
N` scores N validation lines drawn by the seed: quicker, and noisier. `--seeds N` repeats
everything for N seeds and prints the mean and its standard error (one seed's classifier
moves by 0.02-0.04). `--texts own` writes each real line's own text instead of a drafted
one: what a perfect drafter would reach, so that the drafter and the writing can be told
apart. `--others` first scores real lines by other writers the same way (as many drawn from
the training writers', and the other split's): the yardstick for a model's lines.

Real lines are the validation writers' (never trained on; `--split test`: the test writers',
scored once at the end; `--split train`: 416 of the training writers', the population the
model learnt its hands from, where two validation writers do not dominate). For each real
line the model writes one of the same number of points (a drafted line may finish sooner),
so length tells little. Each line is described by statistics that do not depend on its scale
or on pen speed (it is resampled to one pen distance per line height first): stroke lengths,
pen lifts and gaps per width, turning, ascender and descender extent, baseline wobble. A
logistic regression tells real from sampled lines; its cross-validated accuracy is the
measure: 0.5 = indistinguishable. The second measure: of the words of four letters or more
that the shipped recogniser reads in a line, the share that are words of the training
transcriptions, and the share that are English words in a wider sense (those or the shipped
word list's, which `sample`'s drafts hold to), next to the same shares for the real lines.
Prints markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import replace

import numpy as np
import torch

from handwriter.data import MODEL_UNITS, STATISTICS, line_statistics
from handwriter.ink import Ink, read_lines
from handwriter.reader import InkReader
from handwriter.sample import SampleConfig, Writer, generate
from handwriter.text_model import TextModel
from handwriter.train import TrainConfig, load_splits
from handwriter.unprompted import write_from_nothing
from handwriter.writing import write_lines_together


def cv_accuracy(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of an L2 logistic regression (Newton's method)."""
    order = np.random.default_rng(seed).permutation(len(y))
    correct = 0
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        a = np.c_[(x[train] - mean) / std, np.ones(len(train))]
        w = np.zeros(a.shape[1])
        for _ in range(50):
            p = 1 / (1 + np.exp(-a @ w))
            grad = a.T @ (p - y[train]) + 1e-2 * w
            hess = (a * (p * (1 - p))[:, None]).T @ a + 1e-2 * np.eye(len(w))
            w -= np.linalg.solve(hess, grad)
        b = np.c_[(x[test] - mean) / std, np.ones(len(test))]
        correct += int(((b @ w > 0) == (y[test] > 0.5)).sum())
    return correct / len(y)


def sample_like(writer: Writer, lengths: list[int], bias: float, seed: int,
                words: str | None = None, candidates: int = 1, batch: int = 64,
                texts: list[str] | None = None) -> list[np.ndarray]:
    """One sampled line per real line, of its number of points at most (lines sorted by
    length); a synthesis writer writes text drafted by the shipped text model from `words`,
    or the given `texts`, one per line."""
    text_model = TextModel.load(words=words) if writer.alphabet and texts is None else None
    out = [None] * len(lengths)
    order = np.argsort(lengths)
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        cfg = SampleConfig(n=len(rows), bias=bias, seed=seed + start, candidates=candidates,
                           max_points=int(max(lengths[i] for i in rows)))
        if texts is not None:
            given = [texts[i] for i in rows]
            generator = torch.Generator().manual_seed(cfg.seed)
            inks = (write_lines_together(writer, given, cfg, reader=InkReader.load(),
                                         generator=generator) if candidates > 1 else
                    generate(writer, cfg, given, generator=generator)[0])
        elif text_model:
            inks = write_from_nothing(writer, text_model, cfg)
        else:
            inks = generate(writer, cfg)[0]
        for i, ink in zip(rows, inks, strict=True):
            out[i] = ink.strokes[:lengths[i]]
    return out


def english_share(reader: InkReader, lines: list[np.ndarray], *lexicons: set[str]) -> tuple:
    """Share of read words (4+ letters) found in each lexicon, and how many were read."""
    inks = [Ink(s, meta={"units": MODEL_UNITS}) for s in lines]
    words = [w for text in reader.read(inks) for w in re.findall(r"[a-z]{4,}", text.lower())]
    return (*(sum(w in lexicon for w in words) / max(len(words), 1) for lexicon in lexicons),
            len(words))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", default=["shipped"],
                        help="checkpoints, or unconditional or shipped (see above)")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lines", type=int, default=0,
                        help="score only this many validation lines, drawn by --seed (0: all)")
    parser.add_argument("--words", help="word list the drafts hold to (default: the shipped one)")
    parser.add_argument("--candidates", type=int, default=1,
                        help="drafts of each segment, the reader picking (as `sample`'s flag)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds to average, from --seed on (prints mean +- standard error)")
    parser.add_argument("--texts", choices=["drafted", "own"], default="drafted",
                        help="own: write each real line's own text, not a drafted one")
    parser.add_argument("--split", default="valid", choices=["valid", "test", "train"],
                        help="whose real lines: the validation writers', the test writers', or "
                        "416 drawn by --seed from the training writers' (the population "
                        "`sample` draws its hands from)")
    parser.add_argument("--others", action="store_true",
                        help="also tell them from real lines of other writers: as many drawn "
                        "from the training writers', and from the other split's")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(data=args.data)
    if args.split == "train" and args.others:
        raise SystemExit("--others compares real lines with the validation or test writers'")
    valid = load_splits(replace(cfg, data=args.data), args.split)[args.split]
    if args.split == "train":
        args.lines = args.lines or 416  # as many as the validation writers have
    if args.lines:
        rng = np.random.default_rng(args.seed)
        valid = [valid[i] for i in sorted(rng.choice(len(valid), args.lines, replace=False))]
    real = [s for s, _, _ in valid]
    training = {w for ink in read_lines(args.data) if ink.text
                for w in re.findall(r"[a-z]{4,}", ink.text.lower())}
    english = training | {w.lower() for w in TextModel.load().vocabulary.weight if len(w) > 3}
    reader = InkReader.load()
    real_x = [line_statistics(s) for s in real]
    share, wider, words = english_share(reader, real, training, english)
    split = {"valid": "validation", "test": "test", "train": "training writers'"}[args.split]
    print(f"{len(real)} real {split} lines; {len(training):,} training words of 4+ "
          f"letters, {len(english):,} with the word list's; seeds {args.seed}-"
          f"{args.seed + args.seeds - 1}\n")
    print("| lines | bias | classifier accuracy (0.5 = like real) | read words that are "
          "training words / English | words read | s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| real {split} lines | – | – | {share:.0%} / {wider:.0%} | {words} | – |",
          flush=True)
    details = []

    def scored(fake: list[np.ndarray]) -> tuple:
        """Classifier accuracy (real lines against `fake`, paired by index), English shares,
        and each statistic's median over the real lines' median."""
        fake_x = [line_statistics(s) for s in fake]
        keep = [i for i in range(len(real)) if real_x[i] is not None and fake_x[i] is not None]
        x = np.array([real_x[i] for i in keep] + [fake_x[i] for i in keep])
        y = np.r_[np.ones(len(keep)), np.zeros(len(keep))]
        middle = np.median(x[y == 1], 0)
        return (cv_accuracy(x, y), *english_share(reader, fake, training, english),
                np.median(x[y == 0], 0) / np.where(middle == 0, 1, middle))

    def report(label: str, bias: str, runs: list[tuple], t0: float) -> None:
        accuracy, share, wider, words, ratios = (np.array(v) for v in zip(*runs, strict=True))
        spread = f" ± {accuracy.std(ddof=1) / np.sqrt(len(runs)):.3f}" if len(runs) > 1 else ""
        print(f"| {label} | {bias} | {accuracy.mean():.3f}{spread} | {share.mean():.0%} / "
              f"{wider.mean():.0%} | {words.mean():.0f} | {time.time() - t0:.0f} |", flush=True)
        details.append(f"{label}, bias {bias}: " + ", ".join(
            f"{name} {r:.2f}" for name, r in zip(STATISTICS, ratios.mean(0), strict=True)))

    if args.others:  # what the classifier makes of real lines by other writers
        other = {"valid": "test", "test": "valid"}[args.split]
        lines = load_splits(replace(cfg, data=args.data), "train", other)
        for name, group in (("training", "train"), ("test" if other == "test" else
                                                    "validation", other)):
            t0, pool = time.time(), [s for s, _, _ in lines[group]]
            draws = [np.random.default_rng(seed).permutation(len(pool))[:len(real)]
                     for seed in range(args.seed, args.seed + args.seeds)]
            report(f"real lines of the {name} writers, {min(len(pool), len(real))} drawn",
                   "–", [scored([pool[i] for i in draw]) for draw in draws], t0)
    for model in args.model:
        writer = Writer.load("sample" if model == "shipped" else model)
        texts = None
        if args.texts == "own":
            if not writer.alphabet:
                raise SystemExit(f"--texts own: {model} writes no text")
            texts = ["".join(c for c in text if c in writer.alphabet) or "a"
                     for _, text, _ in valid]
        for bias in args.biases:
            t0 = time.time()
            runs = [scored(sample_like(writer, [len(s) for s in real], bias, seed, args.words,
                                       args.candidates, texts=texts))
                    for seed in range(args.seed, args.seed + args.seeds)]
            label = model + (" writing the real lines' texts" if texts else "") + (
                f", --words {args.words}" if args.words else "") + (
                f", {args.candidates} drafts" if args.candidates > 1 else "")
            report(label, str(bias), runs, t0)
    print("\nMedian statistic of the other lines / of the real ones:\n")
    print("\n".join(f"- {d}" for d in details))


if __name__ == "__main__":
    main()
