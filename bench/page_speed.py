"""Page speed: a 12-line letter written line after line (before #14) vs all lines together.

    python bench/page_speed.py [--lines 12] [--threads 2] [--candidates 32]

Both ways draw `--candidates` drafts per 120-point segment and keep the one the shipped
reader reads best; "together" runs every line's drafts as one batch per segment. Prints a
markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from handwriter.layout import wrap_text
from handwriter.reader import InkReader
from handwriter.sample import WRITING, Writer
from handwriter.writing import write_line, write_page

LETTER = ("Dear Ann, thank you for the lovely card and the photos from the lake. We had a "
          "quiet week here, with rain most days, so I read a lot and walked the dog between "
          "the showers. The garden is full of apples this year, more than we can eat or "
          "give away, and the pears are not far behind. Come and pick some before the end "
          "of the month, and bring the children: they can climb the old tree by the wall. "
          "Write soon and tell me how the new job is going. With love from us both, Tom.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=WRITING.candidates)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
