"""Page speed: a 12-line letter written line after line (before #14) vs all lines together;
and, with `--by`, seconds per page against legibility by drafts or by bias.

    python bench/page_speed.py [--lines 12] [--threads 2] [--candidates 32]
    python bench/page_speed.py --by drafts [--drafts 1 2 4 8 16 32] [--judge JUDGE.pt]
    python bench/page_speed.py --by bias [--biases 0 0.5 0.75 1 1.5 2 3] [--drafts 1]
    python bench/page_speed.py --by drafts --page letter [--lines 12]

The letter: both ways draw `--candidates` drafts per 120-point segment and keep the one the
shipped reader reads best; "together" runs every line's drafts as one batch per segment.
`--by`: the studio's two-line pages (bench/legibility.py's sentences in pairs; `--page
letter`: the letter) written as `write` writes them, per row: seconds per page, the
judge's CER (the shipped reader's when no `--judge`: it flatters drafts it picked itself),
lines the slip and scribble check still finds spoiled (`writing.spoiled`), and pen-down ink
per character in line heights (wild ink is long). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from legibility import SENTENCES, score

from handwriter.ink import Ink
from handwriter.layout import wrap_text
from handwriter.reader import InkReader
from handwriter.sample import WRITING, Writer
from handwriter.writing import spoiled, write_line, write_page

LETTER = ("Dear Ann, thank you for the lovely card and the photos from the lake. We had a "
          "quiet week here, with rain most days, so I read a lot and walked the dog between "
          "the showers. The garden is full of apples this year, more than we can eat or "
          "give away, and the pears are not far behind. Come and pick some before the end "
          "of the month, and bring the children: they can climb the old tree by the wall. "
          "Write soon and tell me how the new job is going. With love from us both, Tom.")


def ink_per_char(ink: Ink) -> float:
    """Pen-down path length per character of the text, in line heights."""
    steps = np.hypot(ink.strokes[1:, 0], ink.strokes[1:, 1]) * (ink.strokes[:-1, 2] == 0)
    return float(steps.sum() / max(len(ink.text), 1))


def table(args: argparse.Namespace) -> None:
    """Seconds per two-line page, CER, spoiled lines and ink per character, per setting."""
    writer, picker = Writer.load(synthesis=True), InkReader.load()
    judge = InkReader.load(args.judge) if args.judge else picker
    if args.page == "letter":
        pages = [[line.text for line in wrap_text(LETTER, 40)][:args.lines]]
    else:
        pages = [SENTENCES[i:i + 2] for i in range(0, len(SENTENCES), 2)]
    settings = [(d, b) for d in args.drafts for b in args.biases]
    print(f"{len(pages)} {len(pages[0])}-line pages x {args.seeds} seeds per row, "
          f"{args.threads} threads, judge: "
          f"{args.judge or 'the shipped reader (it also picks the drafts)'}\n")
    print("| drafts | bias | s per page | CER | spoiled lines | ink per character |")
    print("|---:|---:|---:|---:|---:|---:|")
    for drafts, bias in settings:
        inks, seconds = [], 0.0
        for seed in range(args.seeds):
            for i, texts in enumerate(pages):
                cfg = replace(WRITING, seed=seed * len(pages) + i, bias=bias, candidates=drafts)
                start = time.perf_counter()
                inks += write_page(writer, texts, cfg, reader=picker)
                seconds += time.perf_counter() - start
        edits, chars, _, _ = score([judge], inks)[0]
        print(f"| {drafts} | {bias} | {seconds / (args.seeds * len(pages)):.2f} | "
              f"{edits / chars:.1%} | {np.mean([spoiled(ink) for ink in inks]):.0%} | "
              f"{np.median([ink_per_char(ink) for ink in inks]):.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=WRITING.candidates)
    parser.add_argument("--by", choices=["drafts", "bias"],
                        help="a table of seconds per page and legibility instead of the letter")
    parser.add_argument("--drafts", type=int, nargs="+")
    parser.add_argument("--biases", type=float, nargs="+")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--judge", help="reader checkpoint that scores (default: the shipped)")
    parser.add_argument("--page", choices=["studio", "letter"], default="studio",
                        help="with --by: two-line studio pages, or the --lines letter")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.by:
        by_drafts = args.by == "drafts"
        args.drafts = args.drafts or ([1, 2, 4, 8, 16, 32] if by_drafts else [1])
        args.biases = args.biases or ([WRITING.bias] if by_drafts else
                                      [0, 0.5, 0.75, 1, 1.5, 2, 3])
        table(args)
        return
    texts = [line.text for line in wrap_text(LETTER, 40)][:args.lines]
    writer, reader = Writer.load(synthesis=True), InkReader.load()
    cfg = replace(WRITING, candidates=args.candidates)

    start = time.perf_counter()
    generator = torch.Generator().manual_seed(cfg.seed)
    for text in texts:
        write_line(writer, text, cfg, reader=reader, generator=generator)
    one_by_one = time.perf_counter() - start
    start = time.perf_counter()
    write_page(writer, texts, cfg, reader=reader)
    together = time.perf_counter() - start

    print(f"{len(texts)} lines, {sum(map(len, texts))} characters, {cfg.candidates} drafts per "
          f"segment, {args.threads} threads, torch {torch.__version__}\n")
    print("| lines written | seconds | s per line |\n|---|---:|---:|")
    for name, seconds in (("one after another (before)", one_by_one),
                          ("together, one batch per segment", together)):
        print(f"| {name} | {seconds:.1f} | {seconds / len(texts):.2f} |")
    print(f"\nspeed-up: {one_by_one / together:.2f}x")


if __name__ == "__main__":
    main()
