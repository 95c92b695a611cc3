"""Draw the model-card galleries: samples of the shipped models at several biases and styles.

    python docs/gallery.py [unconditional] [synthesis] [priming] [hands]  # docs/gallery_<which>.png
    python docs/gallery.py training --snapshots RUN/snap_*.pt  # docs/gallery_training.png
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from handwriter.adapt import adapt  # noqa: E402
from handwriter.data import MODEL_UNITS  # noqa: E402
from handwriter.ink import Ink  # noqa: E402
from handwriter.model import load_checkpoint  # noqa: E402
from handwriter.reader import InkReader  # noqa: E402
from handwriter.sample import WRITING, SampleConfig, Writer  # noqa: E402
from handwriter.train import TrainConfig, load_splits, writer_primers  # noqa: E402
from handwriter.unprompted import from_nothing  # noqa: E402
from handwriter.writing import write_page  # noqa: E402

HERE = Path(__file__).parent
SENTENCE = "The quick brown fox jumps over the lazy dog"


def draw_rows(rows: list[tuple[str, Ink]], path: Path) -> None:
    """One row per line, all at one scale, so sizes compare between rows."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 1.3 * len(rows)), dpi=100)
    width = max(np.ptp(ink.points[:, 0]) for _, ink in rows)
    height = max(max(np.ptp(ink.points[:, 1]) for _, ink in rows), 0.1 * width)
    for ax, (label, ink) in zip(axes, rows, strict=True):
        for stroke in ink.stroke_list:
            ax.plot(stroke[:, 0], stroke[:, 1], color="black", lw=1.2, solid_capstyle="round")
        left, middle = ink.points[:, 0].min(), np.ptp(ink.points[:, 1]) / 2 + ink.points[:, 1].min()
        ax.set_xlim(left - 0.01 * width, left + 1.01 * width)  # every row the same box of ink:
        ax.set_ylim(middle - 0.55 * height, middle + 0.55 * height)  # nothing cropped
        ax.set_aspect("equal", adjustable="box")
        ax.axis("off")
        ax.set_title(label, loc="left", fontsize=8, color="gray")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(path)


def real_lines(data: str, n: int = 3, seed: int = 0) -> list[Ink]:
    """Validation writers' lines (never trained on) of 250-500 points, as the model sees ink."""
    lines = load_splits(TrainConfig(data=data), "valid")["valid"]
    with np.load(data) as z:  # lines whose ink is much narrower than their text lost some
        cut = set(z["text"][z["width_per_char_rel"] < 0.6].tolist())
    lines = [line for line in lines if 250 <= len(line[0]) <= 500 and line[1] not in cut]
    picked = np.random.default_rng(seed).choice(len(lines), n, replace=False)
    return [Ink(lines[i][0], text=lines[i][1], meta={"units": MODEL_UNITS}) for i in picked]


def unconditional(data: str, model: str | None) -> None:
    rows = [("a real line by a validation writer (never trained on)", ink)
            for ink in real_lines(data)]
    runs = [(bias, model, "") for bias in (0.0, 0.5, 1.0)] + [(0.5, "unconditional",
                                                               " --model unconditional")]
    for bias, name, flag in runs:  # seeds 0-2 (one batch, seed 0): not picked
        inks = from_nothing(SampleConfig(n=3, seed=0, bias=bias, max_points=500), name)
        rows += [(f"handwriter sample --bias {bias} --n 3{flag} (seed 0), line {i + 1}"
                  + (f": drafted text {ink.text!r}" if ink.text else ""), ink)
                 for i, ink in enumerate(inks)]
    draw_rows(rows, HERE / "gallery_unconditional.png")


def synthesis(model: str | None) -> None:
    writer, reader = Writer.load(model, synthesis=True), InkReader.load()
    rows = []
    for bias in (0.5, 0.75, 1.0):  # what `handwriter write` does, seeds 0-2: not picked
        for seed in range(3):
            cfg = replace(WRITING, seed=seed, bias=bias)
            ink = write_page(writer, [SENTENCE], cfg, reader=reader)[0]
            rows.append((f"bias {bias}, seed {seed}", ink))
    for style in (1, 2, 3):
        ink = write_page(writer, [SENTENCE], WRITING, style=style, reader=reader)[0]
        rows.append((f"bias {WRITING.bias}, seed 0, style {style}", ink))
    draw_rows(rows, HERE / "gallery_synthesis.png")


def priming(data: str, model: str | None) -> None:
    """Six validation writers (those with the longest primer lines): their line, then the
    sentence written primed with it, seed 0."""
    writer, reader = Writer.load(model, synthesis=True), InkReader.load()
    rows = []
    for primer in sorted(writer_primers(data), key=len, reverse=True)[:6]:
        ink = write_page(writer, [SENTENCE], WRITING, primer=primer, primer_text=primer.text,
                         reader=reader)[0]
        rows += [(f"writer {primer.writer} (validation, never trained on): a real line", primer),
                 (f"the same writer's line as primer: bias {WRITING.bias}, seed 0", ink)]
    draw_rows(rows, HERE / "gallery_priming.png")


def hands(data: str, model: str | None) -> None:
    """The first six validation writers (by name) with six lines or more: two of their lines,
    then their third line's text written in the style adapted to their lines 4-8
    (`adapt.adapt`, as `style add` does), then the real third line. Seed 0, not picked."""
    writer, reader = Writer.load(model, synthesis=True), InkReader.load()
    lines = load_splits(TrainConfig(data=data, synthesis=True, max_points=700), "valid")["valid"]
    by_writer: dict[str, list[Ink]] = {}
    for strokes, text, name in lines:
        by_writer.setdefault(name, []).append(Ink(strokes, text=text, writer=name,
                                                  meta={"units": MODEL_UNITS}))
    in_hand = WRITING.in_persons_hand()  # as `write --style` writes
    rows = []
    for name in sorted(w for w, own in by_writer.items() if len(own) >= 6)[:6]:
        own = by_writer[name]
        style = adapt(writer, own[3:8]).style
        ink = write_page(writer.styled(style).leaning(own[3:8]), [own[2].text], in_hand,
                         reader=reader)[0]
        rows += [(f"writer {name} (validation, never trained on): real line {i + 1}", own[i])
                 for i in range(2)]
        rows += [(f"line 3's text in the style adapted to lines 4-{min(len(own), 8)}: bias "
                  f"{WRITING.bias}, seed 0", ink), ("the real line 3", own[2])]
    draw_rows(rows, HERE / "gallery_hands.png")


def training(snapshots: list[str]) -> None:
    """A stroke-only run at points of its training: seed 0's first two lines at bias 0 from
    checkpoints kept along the way, in the order given."""
    rows = []
    for path in snapshots:
        step = load_checkpoint(path)["step"]
        inks = from_nothing(SampleConfig(n=2, seed=0, bias=0.0, max_points=500), path)
        rows += [(f"{Path(path).name}, step {step} of its run: sample --model {Path(path).name} "
                  f"--seed 0 --bias 0, line {i + 1}", ink) for i, ink in enumerate(inks)]
    draw_rows(rows, HERE / "gallery_training.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", nargs="*",
                        default=["unconditional", "synthesis", "priming", "hands"])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared/data/unipen/lines.npz"),
                        help="lines.npz with the validation writers' real lines")
    parser.add_argument("--model", help="checkpoint for `sample` (default: the shipped models)")
    parser.add_argument("--synthesis-model", help="synthesis checkpoint (default: the shipped one)")
    parser.add_argument("--snapshots", nargs="+", default=[],
                        help="with training: stroke-only checkpoints of one run, in order")
    args = parser.parse_args()
    if "unconditional" in args.which:
        unconditional(args.data, args.model)
    if "synthesis" in args.which:
        synthesis(args.synthesis_model)
    if "priming" in args.which:
        priming(args.data, args.synthesis_model)
    if "hands" in args.which:
        hands(args.data, args.synthesis_model)
    if "training" in args.which:
        training(args.snapshots)


if __name__ == "__main__":
    main()
