"""Whose hand is this? A writer-identification judge for "write it in my hand".

    python bench/writer_id.py [--data lines.npz] [--split valid] [--model synthesis.pt]
                              [--given 3 5] [--bias 0.75] [--seeds 2] [--seed 0] [--candidates 32]
                              [--columns none read adapted]

The judge never sees the writers it judges: a discriminant projection (regularised LDA) of
ink descriptors (direction, turning and hinge histograms, stroke and gap lengths, letter
width, the height profile and `data.line_statistics`) learned on the training writers' lines.
On the split's writers with four lines or more, each writer's last line(s) are queries and
their other lines enrol them (the centroid of the projected lines); a query is attributed to
the nearest centroid by cosine. Columns: the real queries; their texts written with no style;
written in the style adapted to 3 and to 5 of the writer's enrolled lines (`adapt.adapt`)
and in the style only read from them (`--no-adapt` of `style add`). Top-1 accuracy and the
mean rank of the true writer (1 is best, (K + 1) / 2 is chance). One draft of each line by
default; `--candidates 32` writes as `write` does, the reader picking. Prints markdown.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from itertools import pairwise

import numpy as np
import torch

from handwriter.adapt import AdaptConfig, adapt
from handwriter.cli import add_config_flags, config_from_args
from handwriter.data import MODEL_UNITS, line_statistics, resample
from handwriter.ink import Ink
from handwriter.train import TrainConfig, load_splits

DIRECTIONS, TURNS = 12, 6
COLUMNS = ("none", "read", "adapted")  # the written lines: no style, read, adapted


def to_bin(angle: np.ndarray, bins: int) -> np.ndarray:
    """Which of `bins` equal sectors of the circle each angle falls in."""
    return np.floor((angle + np.pi) / (2 * np.pi) * bins).astype(int) % bins


def descriptors(strokes: np.ndarray, text: str) -> np.ndarray | None:
    """A line's hand as numbers, blind to its text's length: `strokes` as `data.prepare`
    makes them (one unit is the line's height). None for a line too small to tell."""
    stats = line_statistics(strokes, shape=True)
    if stats is None:
        return None
    fine = resample(strokes, 0.05)
    points = np.cumsum(fine[:, :2], axis=0)
    ends = np.flatnonzero(fine[:, 2] > 0.5) + 1
    pieces = [p for p in np.split(points, ends) if len(p)]
    heading, bend, hinge = [], [], []
    for p in pieces:
        d = np.diff(p, axis=0)
        if len(d) < 3:
            continue
        angle = np.arctan2(d[:, 1], d[:, 0])
        heading.append(angle)
        bend.append(np.stack([angle[1:], np.diff(np.unwrap(angle))], 1))  # heading, turn
        hinge.append(np.stack([angle[:-2], angle[2:]], 1))  # the pen's heading, then later
    if not heading:
        return None
    heading, bend, hinge = np.concatenate(heading), np.concatenate(bend), np.concatenate(hinge)
    directions = np.bincount(to_bin(heading, DIRECTIONS), minlength=DIRECTIONS)
    bends = np.bincount(to_bin(bend[:, 0], DIRECTIONS) * TURNS
                        + np.clip(np.floor((bend[:, 1] + 0.6) / 0.2), 0, TURNS - 1).astype(int),
                        minlength=DIRECTIONS * TURNS)
    hinges = np.bincount(to_bin(hinge[:, 0], 8) * 8 + to_bin(hinge[:, 1], 8), minlength=64)
    lengths = [np.hypot(*np.diff(p, axis=0).T).sum() for p in pieces]
    gaps = [b[0] - a[-1] for a, b in pairwise(pieces)] or [np.zeros(2)]
    y = points[:, 1] - np.median(points[:, 1])
    width = max(float(np.ptp(points[:, 0])), 0.5)
    return np.concatenate([
        stats,
        directions / len(heading), bends / len(bend), hinges / len(hinge),
        np.histogram(np.log(np.maximum(lengths, 1e-3)), 8, (-4, 4))[0] / len(lengths),
        np.histogram([g[0] for g in gaps], 8, (-2, 6))[0] / len(gaps),
        np.histogram(y, 12, (-1.5, 1.5))[0] / len(y),
        [np.log(width / max(len(text.strip()), 1)), np.log(len(pieces) / width)],
    ])


class Judge:
    """Regularised LDA fitted on training writers: lines -> unit vectors where one writer's
    lines lie close together."""

    def __init__(self, features: np.ndarray, writers: list[str], dims: int = 64,
                 shrink: float = 0.1):
        self.mean, self.scale = features.mean(0), features.std(0) + 1e-6
        x = (features - self.mean) / self.scale
        names = sorted(set(writers))
        label = np.array([names.index(w) for w in writers])
        centroids = np.stack([x[label == k].mean(0) for k in range(len(names))])
        within = x - centroids[label]
        sw = within.T @ within / len(x)
        sw = (1 - shrink) * sw + shrink * np.trace(sw) / len(sw) * np.eye(len(sw))
        values, vectors = np.linalg.eigh(sw)
        whiten = vectors / np.sqrt(values)                # Sw^-1/2
        between = (centroids - centroids.mean(0)) @ whiten
        _, _, vt = np.linalg.svd(between, full_matrices=False)
        self.projection = whiten @ vt[:dims].T

    def embed(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.projection
        return z / np.linalg.norm(z, axis=-1, keepdims=True)

    def ranks(self, queries: list[tuple[np.ndarray, str]],
              enrolled: dict[str, np.ndarray]) -> np.ndarray:
        """Rank (1 = first) of each query's true writer among the enrolled ones; a query is
        `(features, writer)`, `enrolled` maps a writer to their lines' features."""
        names = sorted(enrolled)
        centroids = np.stack([self.embed(enrolled[w]).mean(0) for w in names])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        out = []
        for features, writer in queries:
            similarity = centroids @ self.embed(features[None])[0]
            out.append(1 + int((similarity > similarity[names.index(writer)]).sum()))
        return np.array(out)


def fit_judge(lines: list[tuple]) -> Judge:
    """The judge, from `(strokes, text, writer)` lines of writers it will never judge."""
    rows = [(descriptors(s, t), w) for s, t, w in lines]
    rows = [(f, w) for f, w in rows if f is not None]
    return Judge(np.stack([f for f, _ in rows]), [w for _, w in rows])


def split_writers(lines: list[tuple], queries: int = 2, min_lines: int = 4
                  ) -> dict[str, tuple[list, list]]:
    """Per writer with `min_lines` or more: (enrolled lines, query lines), the last
    `queries` (one when the writer has fewer than six) being the queries."""
    by_writer: dict[str, list] = {}
    for strokes, text, writer in lines:
        if descriptors(strokes, text) is not None:
            by_writer.setdefault(writer, []).append((strokes, text))
    out = {}
    for writer, own in sorted(by_writer.items()):
        if len(own) >= min_lines:
            q = queries if len(own) >= 6 else 1
            out[writer] = (own[:-q], own[-q:])
    return out


def column(judge: Judge, enrolled: dict[str, np.ndarray], inks: dict[str, list]) -> str:
    """Markdown cells: top-1 accuracy and mean rank of lines written for each writer."""
    queries = [(descriptors(s, t), w) for w, lines in inks.items() for s, t in lines]
    ranks = judge.ranks([(f, w) for f, w in queries if f is not None], enrolled)
    return f"{(ranks == 1).mean():.0%} | {ranks.mean():.2f} | {len(ranks)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--split", default="valid", choices=["valid", "test"])
    parser.add_argument("--model", default=None, help="synthesis checkpoint (default: shipped)")
    parser.add_argument("--given", type=int, nargs="*", default=[3, 5],
                        help="lines of the writer a style is adapted to (`--given` alone: only the "
                        "real lines are judged)")
    parser.add_argument("--bias", type=float, default=0.75)
    parser.add_argument("--seeds", type=int, default=1, help="takes of each query's text")
    parser.add_argument("--seed", type=int, default=0,
                        help="added to each writer's seed: another value, other takes")
    parser.add_argument("--candidates", type=int, default=1,
                        help="drafts of each stretch, the shipped reader picking (`write`: 32)")
    add_config_flags(parser, AdaptConfig, skip=("minutes",))  # how each style is adapted
    parser.add_argument("--columns", nargs="+", default=list(COLUMNS), choices=COLUMNS,
                        help="which written lines to judge besides the real ones")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if any(given < 1 for given in args.given):
        parser.error(f"--given: lines to adapt to must be 1 or more, got {args.given}")
    fitting = replace(config_from_args(AdaptConfig, args), minutes=60)  # all its steps
    torch.set_num_threads(args.threads)
    cfg = replace(TrainConfig(data=args.data), synthesis=True, max_points=700)
    lines = load_splits(cfg, "train", args.split)
    started = time.monotonic()
    judge = fit_judge(lines["train"])
    writers = split_writers(lines[args.split])
    enrolled = {w: np.stack([descriptors(s, t) for s, t in e]) for w, (e, _) in writers.items()}
    print(f"judge fitted on {len(lines['train'])} training lines in "
          f"{time.monotonic() - started:.0f} s; {len(writers)} {args.split} writers "
          f"(chance: top-1 {1 / len(writers):.0%}, mean rank {(len(writers) + 1) / 2:.1f})\n")
    print("| lines judged | top-1 | mean rank | lines |")
    print("|---|---:|---:|---:|")
    print("| real | " + column(judge, enrolled, {w: q for w, (_, q) in writers.items()}) + " |")
    if not args.given:
        return
    from handwriter.reader import InkReader
    from handwriter.sample import SampleConfig, Writer
    from handwriter.writing import write_lines_together

    base = Writer.load(args.model, synthesis=True)
    sample_cfg = SampleConfig(bias=args.bias, max_points=1500, candidates=args.candidates)
    reader = InkReader.load() if args.candidates > 1 else None

    def written(writer_of) -> dict[str, list]:
        out = {}
        for w, (own, queries) in writers.items():
            model = writer_of(w, own)
            if model is None:
                continue
            texts = [t for _, t in queries] * args.seeds
            take = replace(sample_cfg, seed=args.seed + len(out))
            inks = write_lines_together(model, texts, take, reader=reader)
            out[w] = [(ink.strokes, t) for ink, t in zip(inks, texts, strict=True)]
        return out

    if "none" in args.columns:
        print("| no style | " + column(judge, enrolled, written(lambda w, own: base)) + " |",
              flush=True)
    for given in args.given:
        def styled(w, own, given=given, adapted=False):
            if len(own) < given:
                return None
            inks = [Ink(s, text=t, meta={"units": MODEL_UNITS}) for s, t in own[:given]]
            if not adapted:
                return base.styled(base.style_of(inks)).leaning(inks)
            fitted = adapt(base, inks, fitting)
            return base.styled(fitted.style).leaning(inks)
        if "read" in args.columns:
            print(f"| style read from {given} lines | "
                  + column(judge, enrolled, written(styled)) + " |", flush=True)
        if "adapted" in args.columns:
            print(f"| adapted to {given} lines | " + column(
                judge, enrolled, written(lambda w, own, g=given: styled(w, own, g, True)))
                + " |", flush=True)

if __name__ == "__main__":
    main()
