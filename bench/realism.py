"""Does `sample` write like a person? A classifier two-sample test and a word count.

    python bench/realism.py [--model unconditional.pt] [--biases 0 0.5] [--data lines.npz]

Real lines are the validation writers' (never trained on). For each real line the model
writes one of the same number of points, so length tells nothing. Each line is described by
statistics that do not depend on its scale or on pen speed (it is resampled to one pen
distance per line height first): stroke lengths, pen lifts and gaps per width, turning,
ascender and descender extent, baseline wobble. A logistic regression tells real from
sampled lines; its cross-validated accuracy is the measure: 0.5 = indistinguishable.
The second measure: of the words of four letters or more that the shipped recogniser reads
in a line, the share that are words of the training transcriptions, next to the same share
for the real lines. Prints markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import replace
from itertools import pairwise

import numpy as np
import torch

from handwriter.data import MODEL_UNITS, resample, robust_height
from handwriter.ink import Ink, read_lines
from handwriter.reader import InkReader
from handwriter.sample import SampleConfig, Writer, generate
from handwriter.train import TrainConfig, load_splits

FEATURES = ["median stroke length", "mean stroke length", "pen lifts per width",
            "ink per width", "word gaps per width", "median gap", "turning per length",
            "sharp turns per length", "ascender extent", "descender extent",
            "baseline wobble", "slant"]


def describe(strokes: np.ndarray) -> np.ndarray | None:
    """The statistics above for one line of offsets `[dx, dy, pen_lift]`; None if too small."""
    height = robust_height(strokes)
    if height <= 0 or len(strokes) < 10:
        return None
    strokes = strokes.copy()
    strokes[:, :2] /= height
    strokes = resample(strokes, 0.05)  # one pen speed for every line, real or sampled
    points = np.cumsum(strokes[:, :2], axis=0)
    ends = np.flatnonzero(strokes[:, 2] > 0.5) + 1
    pieces = [p for p in np.split(points, ends) if len(p)]
    lengths = np.array([np.hypot(*np.diff(p, axis=0).T).sum() if len(p) > 1 else 0.0
                        for p in pieces])
    width = max(float(np.ptp(points[:, 0])), 0.5)
    gaps = np.array([np.hypot(*(b[0] - a[-1])) for a, b in pairwise(pieces)] or [0.0])
    turning, sharp = [], 0
    for p in pieces:
        d = np.diff(p, axis=0)
        if len(d) < 2:
            continue
        angle = np.diff(np.unwrap(np.arctan2(d[:, 1], d[:, 0])))
        turning.append(np.abs(angle))
        sharp += int((np.abs(angle) > 0.6).sum())
    turning = np.concatenate(turning) if turning else np.zeros(1)
    ink = max(lengths.sum(), 1e-6)
    y = points[:, 1]
    low, high = np.percentile(y, [10, 90])
    minima = [p[np.argmin(p[:, 1])] for p in pieces if len(p) > 2]
    wobble = 0.0
    if len(minima) > 3:
        minima = np.array(minima)
        fit = np.polyfit(minima[:, 0], minima[:, 1], 1)
        wobble = float(np.median(np.abs(minima[:, 1] - np.polyval(fit, minima[:, 0]))))
    d = np.diff(points, axis=0)[strokes[1:, 2] < 0.5]
    upright = d[np.abs(d[:, 1]) > 2 * np.abs(d[:, 0])] if len(d) else d
    slant = float(np.mean(upright[:, 0] / upright[:, 1])) if len(upright) else 0.0
    return np.array([np.median(lengths), lengths.mean(), len(pieces) / width, ink / width,
                     (gaps > 0.6).sum() / width, np.median(gaps), turning.sum() / ink,
                     sharp / ink, np.percentile(y, 99) - high, low - np.percentile(y, 1),
                     wobble, slant])


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
                batch: int = 64) -> list[np.ndarray]:
    """One sampled line per real line, of its number of points (lines sorted by length)."""
    out = [None] * len(lengths)
    order = np.argsort(lengths)
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        cfg = SampleConfig(n=len(rows), bias=bias, seed=seed + start,
                           max_points=int(max(lengths[i] for i in rows)))
        inks, _ = generate(writer, cfg)
        for i, ink in zip(rows, inks, strict=True):
            out[i] = ink.strokes[:lengths[i]]
    return out


def english_share(reader: InkReader, lines: list[np.ndarray], vocabulary: set[str]) -> tuple:
    """Share of read words (4+ letters) found in `vocabulary`, and how many were read."""
    inks = [Ink(s, meta={"units": MODEL_UNITS}) for s in lines]
    words = [w for text in reader.read(inks) for w in re.findall(r"[a-z]{4,}", text.lower())]
    return (sum(w in vocabulary for w in words) / max(len(words), 1), len(words))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", default=[None],
                        help="unconditional checkpoints (default: the shipped one)")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--biases", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(data=args.data)
    real = [s for s, _, _ in load_splits(replace(cfg, data=args.data), "valid")["valid"]]
    vocabulary = {w for ink in read_lines(args.data) if ink.text
                  for w in re.findall(r"[a-z]{4,}", ink.text.lower())}
    reader = InkReader.load()
    real_x = [describe(s) for s in real]
    share, words = english_share(reader, real, vocabulary)
    print(f"{len(real)} real validation lines; {len(vocabulary):,} training words of 4+ "
          f"letters\n")
    print("| lines | bias | classifier accuracy (0.5 = like real) | read words that are "
          "English | words read | s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| real validation lines | – | – | {share:.0%} | {words} | – |", flush=True)
    details = []
    for model in args.model:
        writer = Writer.load(model)
        for bias in args.biases:
            t0 = time.time()
            fake = sample_like(writer, [len(s) for s in real], bias, args.seed)
            fake_x = [describe(s) for s in fake]
            keep = [i for i in range(len(real)) if real_x[i] is not None
                    and fake_x[i] is not None]
            x = np.array([real_x[i] for i in keep] + [fake_x[i] for i in keep])
            y = np.r_[np.ones(len(keep)), np.zeros(len(keep))]
            share, words = english_share(reader, fake, vocabulary)
            print(f"| {model or 'shipped'} | {bias} | {cv_accuracy(x, y):.3f} | {share:.0%} | "
                  f"{words} | {time.time() - t0:.0f} |", flush=True)
            ratios = np.median(x[y == 0], 0) / np.where(np.median(x[y == 1], 0) == 0, 1,
                                                        np.median(x[y == 1], 0))
            details.append(f"{model or 'shipped'}, bias {bias}: " + ", ".join(
                f"{name} {r:.2f}" for name, r in zip(FEATURES, ratios, strict=True)))
    print("\nMedian statistic of sampled lines / of real lines:\n")
    print("\n".join(f"- {d}" for d in details))


if __name__ == "__main__":
    main()
