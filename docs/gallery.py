"""Draw the model-card galleries: samples of the shipped models at several biases and styles.

    python docs/gallery.py            # writes docs/gallery_unconditional.png, gallery_synthesis.png
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from handwriter.reader import InkReader  # noqa: E402
from handwriter.sample import WRITING, SampleConfig, Writer, generate  # noqa: E402
from handwriter.writing import write_page  # noqa: E402

HERE = Path(__file__).parent
SENTENCE = "The quick brown fox jumps over the lazy dog"


def draw_rows(rows: list[tuple[str, object]], path: Path) -> None:
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 1.3 * len(rows)), dpi=100)
    for ax, (label, ink) in zip(axes, rows, strict=True):
        for stroke in ink.stroke_list:
            ax.plot(stroke[:, 0], stroke[:, 1], color="black", lw=1.2, solid_capstyle="round")
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(label, loc="left", fontsize=8, color="gray")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(path)


def main() -> None:
    writer = Writer.load()
    rows = []
    for bias in (0.0, 0.5, 1.0):
        inks, _ = generate(writer, SampleConfig(n=3, seed=7, bias=bias, max_points=500))
        rows += [(f"bias {bias}, seed 7, line {i + 1}", ink) for i, ink in enumerate(inks)]
    draw_rows(rows, HERE / "gallery_unconditional.png")

    writer, reader = Writer.load(synthesis=True), InkReader.load()
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


if __name__ == "__main__":
    main()
