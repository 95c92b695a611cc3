"""Does priming with a writer's line make the model expect that writer's hand?

    python bench/priming.py [--model synthesis.pt] [--data lines.npz] [--split valid]
                            [--adapt [--given LINES] [--share S]] [--writers N] [--first POINTS]

For each validation writer (never trained on) with two lines or more, each of their lines is
scored three ways, in nats per point of that line alone: unprimed; after another line of the
same writer (primer ink and text run through the network first, the line written on after
it as `data.join_lines` places it, as in `train --pairs`); after a line of another writer.
A model with a style input reads the primer's style instead (`adapt.primed_nll`): the
line is scored alone, in that style; unprimed is the zero style.
Same-writer priming should win clearly: the last column counts the writers for whom it beats
no primer, and another writer's line, with a sign test's p (the chance of as many wins if
priming did not matter). Prints markdown for docs/BENCHMARKS.md. With `--first`, only each
scored line's first POINTS points count: before the network has seen much of the hand.

With `--adapt` (a model with a style input), writers with more than `--given` lines (5) are
scored again on all the lines after those, each alone: with no style, in the style read from
the given lines (as `style add --no-adapt` keeps it) and in the style adapted to them
(`adapt.adapt`, all its steps, `--share` of the way from the reading to the fit); the
scored lines are never seen. Each writer's gain over no style is printed, and their mean.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

import torch

from handwriter.adapt import AdaptConfig, adapt, primed_nll
from handwriter.cli import add_config_flags, config_from_args
from handwriter.data import MODEL_UNITS
from handwriter.ink import Ink
from handwriter.sample import Writer
from handwriter.train import TrainConfig, load_splits


def sign_test(wins: int, n: int) -> float:
    """One-sided sign test: the chance of `wins` or more of `n` writers if priming did not
    matter (each writer a coin toss)."""
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2 ** n


def scores(writer: Writer, columns: list[list[tuple]], first: int = 0
           ) -> list[tuple[float, int]]:
    """Each column's NLL in nats and its points (`primed_nll`)."""
    return [primed_nll(writer, jobs, first=first) for jobs in columns]


def add(totals: list[list[float]], wins: list[int], column_scores: list[tuple[float, int]]
        ) -> None:
    """One writer's (unprimed, same writer, another writer) scores added to the totals, and
    to the wins when the same-writer column beats the unprimed one / the other writer's."""
    for total, (nll, points) in zip(totals, column_scores, strict=True):
        total[0] += nll
        total[1] += points
    alone, same, other = (nll / points for nll, points in column_scores)
    wins[0] += same < alone
    wins[1] += same < other


def row(totals: list[list[float]], wins: list[int], writers: int) -> str:
    """Markdown cells: nats per point of each column, then the wins with their sign tests."""
    odds = " / ".join(f"{sign_test(w, writers):.3f}" for w in wins)
    return (" | ".join(f"{n / p:.3f}" for n, p in totals)
            + f" | {wins[0]} / {wins[1]} of {writers} (p = {odds}) |")


def adapted_rows(writer: Writer, by_writer: dict[str, list], first: int = 0, given: int = 5,
                 fitting: AdaptConfig | None = None) -> list[str]:
    """Markdown rows: lines `given` + 1 on of each writer with more, unstyled, in the style
    read from their first `given` lines, and in that style adapted to them (`adapt`)."""
    writers = [w for w in sorted(by_writer) if len(by_writer[w]) > given]
    if not writers:
        raise SystemExit(f"no writer here has more than {given} lines to adapt to and score")
    shipped, both, tuned = ([[0.0, 0] for _ in range(3)] for _ in range(3))
    wins = {"shipped": [0, 0], "both": [0, 0], "tuned": [0, 0]}
    margins = []  # per writer: nats/point gained over no style, read and adapted
    for k, name in enumerate(writers):
        own, stranger = by_writer[name], by_writer[writers[(k + 1) % len(writers)]]
        scored = own[given:]
        columns = [[(None, line) for line in scored], [(own[0], line) for line in scored],
                   [(stranger[i % len(stranger)], line) for i, line in enumerate(scored)]]
        inks = [Ink(s, text=t, meta={"units": MODEL_UNITS}) for s, t in own[:given]]
        result = adapt(writer, inks, fitting or AdaptConfig(minutes=60))  # all its steps
        alone, same, other = scores(writer, columns, first)
        add(shipped, wins["shipped"], [alone, same, other])
        # unprimed, in the style read from the given lines or adapted to them, in another's
        (read,) = scores(writer.styled(writer.style_of(inks)), columns[:1], first)
        (mine,) = scores(writer.styled(result.style), columns[:1], first)
        margins.append([alone[0] / alone[1] - x[0] / x[1] for x in (read, mine)])
        print(f"{name}: {len(scored)} lines scored; {result.summary()}; margin over no style "
              f"{margins[-1][0]:.3f} read, {margins[-1][1]:.3f} adapted", flush=True)
        add(both, wins["both"], [alone, read, other])
        add(tuned, wins["tuned"], [alone, mine, other])
    read, mine = (sum(m) / len(margins) for m in zip(*margins, strict=True))
    print(f"mean over the {len(margins)} writers of the margin over no style: read {read:.3f}, "
          f"adapted {mine:.3f}")
    rows = [("as shipped", shipped, wins["shipped"]),
            (f"the style read from lines 1-{given}", both, wins["both"]),
            (f"the style adapted to lines 1-{given}", tuned, wins["tuned"])]
    return [f"| {label} | {len(writers)} | " + row(totals, won, len(writers))
            for label, totals, won in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", nargs="+", default=[None],
                        help="synthesis checkpoints (default: the shipped one)")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    parser.add_argument("--split", default="valid", choices=["valid", "test"])
    parser.add_argument("--max-points", type=int, default=700, help="longest line scored")
    parser.add_argument("--adapt", action="store_true",
                        help="also score in the style adapted to each writer's first lines")
    parser.add_argument("--given", type=int, default=5, metavar="LINES",
                        help="with --adapt: lines of each writer it is given, the rest scored "
                        "(default: 5)")
    add_config_flags(parser, AdaptConfig, skip=("minutes",))  # with --adapt: each fit
    parser.add_argument("--writers", type=int, default=0, help="only the first N writers")
    parser.add_argument("--first", type=int, default=0, metavar="POINTS",
                        help="score only the first POINTS points of each line (0: all)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = replace(TrainConfig(data=args.data), synthesis=True, max_points=args.max_points)
    lines = load_splits(cfg, args.split)[args.split]
    by_writer: dict[str, list] = {}
    for strokes, text, writer in lines:
        by_writer.setdefault(writer, []).append((strokes, text))
    writers = sorted(w for w, own in by_writer.items() if len(own) >= 2)[:args.writers or None]
    by_writer = {w: by_writer[w] for w in writers}
    jobs = {}  # per writer: each line unprimed, after their next line, after a stranger's
    for k, writer in enumerate(writers):
        own, stranger = by_writer[writer], by_writer[writers[(k + 1) % len(writers)]]
        jobs[writer] = [[(None, line) for line in own],
                        [(own[(i + 1) % len(own)], line) for i, line in enumerate(own)],
                        [(stranger[i % len(stranger)], line) for i, line in enumerate(own)]]
    print(f"{sum(len(j[0]) for j in jobs.values())} lines of {len(writers)} {args.split} "
          "writers with two lines or more\n")
    print("| model | unprimed | primed, same writer | primed, another writer | writers whose "
          "own line beats none / a stranger's |")
    print("|---|---:|---:|---:|---:|")
    models = [(model or "shipped", Writer.load(model, synthesis=True)) for model in args.model]
    for name, writer in models:
        totals, wins = [[0.0, 0] for _ in range(3)], [0, 0]
        for columns in jobs.values():
            add(totals, wins, scores(writer, columns, args.first))
        print(f"| {name} | " + row(totals, wins, len(jobs)), flush=True)
    if not args.adapt:
        return
    print(f"\nLines {args.given + 1} on of writers with {args.given + 1} lines or more, primed "
          f"with their first line, the style read from or tuned to lines 1-{args.given}")
    print("\n| model | weights | writers | unprimed | primed, same writer | "
          "primed, another writer | writers whose own style beats none / a stranger's |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, writer in models:
        fitting = replace(config_from_args(AdaptConfig, args), minutes=60)  # all its steps
        for line in adapted_rows(writer, by_writer, args.first, args.given, fitting):
            print(f"| {name} {line}", flush=True)


if __name__ == "__main__":
    main()
