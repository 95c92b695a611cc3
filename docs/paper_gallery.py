"""Draw the paper gallery (docs/GALLERY.md) and measure one hand per page against UNIPEN.

    python docs/paper_gallery.py [--data ../shared/data/unipen/lines.npz] [--candidates 32]

Writes docs/postcard.{png,svg,gcode} and docs/letter.{png,svg,gcode} as `handwriter write
--file ... --page ...` would (seed 0, not picked), then prints the spread of line heights
and slants: the model's lines as written, the same lines on the sheet, and real pages
(UNIPEN lines from one source file).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from handwriter.ink import Ink, read_lines
from handwriter.layout import PageConfig, chars_per_line, level, place_lines, slant, wrap_text
from handwriter.plotter import save_sheets
from handwriter.reader import InkReader
from handwriter.render import PenStyle
from handwriter.sample import WRITING, Writer
from handwriter.writing import write_page

HERE = Path(__file__).parent
POSTCARD = """Dear Ann,
    greetings from the coast! The sea is cold but the sun is out and the fish are fresh.
See you soon, Tom"""
LETTER = ("Dear Ann,\n\n"
          "    thank you for the lovely card and the photos from the lake. We had a quiet week "
          "here, with rain most days, so I read a lot and walked the dog between the showers.\n"
          "    The garden is full of apples this year, more than we can eat or give away. Come "
          "and pick some before the end of the month, and bring the children.\n"
          "    Write soon and tell me how the new job is going.\n\nWith love,\nTom")
PAGES = {"postcard": (POSTCARD, PageConfig(page="postcard", margin=10)),
         "letter": (LETTER, PageConfig(page="A5"))}


def spread(values: list[float]) -> float:
    """Coefficient of variation: standard deviation over mean."""
    return float(np.std(values) / np.mean(values))


def hand(lines: list[Ink]) -> tuple[float, float]:
    """Spread of the lines' robust heights, and the standard deviation of their slants."""
    shapes = [level(ink) for ink in lines if len(ink) > 1]
    return spread([size for _, size in shapes]), float(np.std([slant(s) for s, _ in shapes]))


def real_pages(path: Path) -> tuple[int, float, float]:
    """Median spreads over UNIPEN pages (source files) holding 4 or more lines."""
    inks = read_lines(path)
    pages: dict[str, list[Ink]] = {}
    for ink in inks:
        pages.setdefault(ink.source, []).append(ink)
    measured = [hand(lines) for lines in pages.values() if len(lines) >= 4]
    return len(measured), *np.median(measured, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared/data/unipen/lines.npz"))
    parser.add_argument("--candidates", type=int, default=WRITING.candidates)
    parser.add_argument("--only", choices=list(PAGES), help="draw one of the two")
    args = parser.parse_args()
    cfg = replace(WRITING, candidates=args.candidates)
    writer, reader = Writer.load(synthesis=True), InkReader.load()
    rows = []
    for name, (text, page) in PAGES.items():
        if args.only not in (None, name):
            continue
        lines = wrap_text(text, chars_per_line(page))
        inks = write_page(writer, [line.text for line in lines], cfg, style=cfg.seed,
                          reader=reader, progress=True)  # one hand, as write_sheets does
        sheets = place_lines(inks, lines, page, seed=cfg.seed)
        for kind in ("svg", "gcode"):
            for path, before, after in save_sheets(sheets, HERE / f"{name}.{kind}"):
                print(f"{path}: pen-up travel {before / 1000:.2f} m -> {after / 1000:.2f} m")
        save_sheets(sheets, HERE / f"{name}.png", style=PenStyle(px_per_mm=6))
        save_sheets(sheets, HERE / f"{name}_travel.png", style=PenStyle(px_per_mm=3),
                    travel_color="red")
        on_sheet = [Ink.from_stroke_list([s * [1, -1] for s in line]) for sheet in sheets
                    for line in sheet.lines if line]
        rows += [(f"{name}: {len(inks)} lines as the model wrote them", *hand(inks)),
                 (f"{name}: the same lines on the sheet", *hand(on_sheet)),
                 (f"{name}: on the sheet without wobble",
                  *hand([Ink.from_stroke_list([s * [1, -1] for s in line])
                         for sheet in place_lines(inks, lines, replace(page, wobble=0.0))
                         for line in sheet.lines if line]))]
    if Path(args.data).exists():
        n, height, lean = real_pages(Path(args.data))
        rows.append((f"UNIPEN: {n} real pages of 4+ lines (median)", height, lean))
    print("\n| lines | spread of line height (std/mean) | std of slant (dx/dy) |")
    print("|---|---:|---:|")
    for label, height, lean in rows:
        print(f"| {label} | {height:.3f} | {lean:.3f} |")


if __name__ == "__main__":
    main()
