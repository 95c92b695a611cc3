"""Saved styles: a person's own ink and what it says, kept to prime the synthesis model.

Each style is one InkML file, `<name>.inkml`, in the user data folder (platformdirs), or in
`$HANDWRITER_DATA_DIR/styles` when that is set (tests, portable installs). A style holds
one or more lines, each with its transcription; `write_page(..., style=name)` writes in it,
primed with one of its lines (`primer_line`). `check_style` is what a style must pass first.
The style adapted to its lines (`adapt.adapt`) sits beside it, `<name>.pt`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .data import prepared
from .ink import Ink, atomic_write, read_inkml, write_inkml

if TYPE_CHECKING:
    from .sample import Writer

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")  # a safe file name on every platform
MAX_POINTS = 20_000  # per style: a few lines of ink at any tablet's rate


def styles_dir() -> Path:
    """Where styles live (not created until one is saved)."""
    root = os.environ.get("HANDWRITER_DATA_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_data_dir("handwriter", appauthor=False)
    return Path(root) / "styles"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"style name {name!r}: use 1-40 letters, digits, '-' or '_', starting "
                         "with a letter or digit")
    if name.isdigit():  # `write --style 3` is the model's own style number 3
        raise ValueError(f"style name {name!r}: numbers are the model's own styles; put a "
                         "letter in the name")
    return name


class StyleExists(ValueError):
    """Saving would replace a saved style that the caller did not say to replace."""


def check_new(name: str, replace: bool, how_to_replace: str) -> str:
    """`name` if a style may be saved under it, else StyleExists saying `how_to_replace` it (a
    flag, a button): `style add` and the studio replace a saved style only when told."""
    if check_name(name) in list_styles() and not replace:
        raise StyleExists(f"a style named {name!r} exists; {how_to_replace}")
    return name


def check_size(inks: list[Ink]) -> None:
    """A style is a few lines of a person's writing, not a data set."""
    points = sum(len(ink) for ink in inks)
    if points > MAX_POINTS:
        lines = "this line has" if len(inks) == 1 else f"these {len(inks)} lines have"
        raise ValueError(f"a style holds at most {MAX_POINTS:,} points of ink (a few lines); "
                         f"{lines} {points:,}")


def save_style(name: str, inks: list[Ink]) -> Path:
    """Store `inks` (each line's `text` its transcription) as style `name`, replacing any."""
    check_name(name)
    if not inks:
        raise ValueError("a style needs at least one line of ink")
    for i, ink in enumerate(inks, 1):
        if len(ink) < 2 or not ink.text.strip():
            raise ValueError(f"line {i} of the style needs ink and its transcription")
    check_size(inks)
    folder = styles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.inkml"
    write_inkml(path, [Ink(ink.strokes, text=ink.text.strip()) for ink in inks])  # atomic
    path.with_suffix(".pt").unlink(missing_ok=True)  # what was learnt of the old ink
    return path


def list_styles() -> list[str]:
    """Names of the saved styles, sorted."""
    folder = styles_dir()
    return sorted(p.stem for p in folder.glob("*.inkml") if NAME.fullmatch(p.stem)) \
        if folder.is_dir() else []


def load_style(name: str) -> list[Ink]:
    """The lines of style `name`, with their transcriptions."""
    path = styles_dir() / f"{check_name(name)}.inkml"
    if not path.is_file():
        saved = ", ".join(list_styles()) or "none"
        raise FileNotFoundError(f"no style named {name!r} (saved: {saved})")
    return read_inkml(path)


def remove_style(name: str) -> None:
    path = styles_dir() / f"{check_name(name)}.inkml"
    if not path.is_file():
        raise FileNotFoundError(f"no style named {name!r}")
    path.unlink()
    path.with_suffix(".pt").unlink(missing_ok=True)


# ---------------------------------------------------------------- lines that can prime

# A primer is one line, at most this many points after `data.prepare`: the synthesis model
# trains on pairs "line A, then line B" of one writer, each up to 700 points, so a longer
# primer is further out of what it knows (it writes ever smaller, or scribbles).
MAX_PRIMER_POINTS = 700
# Characters per line height of width (after `data.prepare`) that real lines hold: the
# 9973 UNIPEN lines of lines.npz run 0.41-3.2 (1st to 99th percentile, median 1.0). This
# band, with SLACK_CHARS either side, flags 30 of them (0.3%): text outside it is most
# likely not what the ink says.
CHARS_PER_HEIGHT = (0.25, 5.0)
SLACK_CHARS = 3


def check_line(writer: Writer, ink: Ink, where: str) -> str:
    """Refuse a line that cannot prime `writer` (too little ink, characters it cannot write);
    return a warning ("" if none) when its text is far too long or short for its width."""
    if len(ink) < 2:
        raise ValueError(f"{where}: {'one point' if len(ink) else 'no ink'} is not enough to "
                         "prime with; it needs a line of writing")
    strokes = prepared(ink, writer.resample_step, writer.max_jump)
    if strokes is None:
        raise ValueError(f"{where}: the ink has no height; a primer needs a line of writing")
    text = ink.text.strip()
    try:
        writer.check_text(text)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    width = float(np.ptp(np.cumsum(strokes[:, 0], dtype=np.float64)))
    low, high = CHARS_PER_HEIGHT
    if low * width - SLACK_CHARS <= len(text) <= high * width + SLACK_CHARS:
        return ""
    characters = f"{len(text)} character{'s' if len(text) != 1 else ''}"
    return (f"{where}: {text!r} has {characters} for ink {width:.1f} line heights "
            f"wide, where lines hold {low}-{high} per line height: is it what the ink says?")


def primer_line(writer: Writer, inks: list[Ink], where: str) -> Ink:
    """The line that primes: the longest the model handles (MAX_PRIMER_POINTS), or an error."""
    lines = (prepared(ink, writer.resample_step, writer.max_jump) for ink in inks)
    lengths = [0 if strokes is None else len(strokes) for strokes in lines]
    fits = [(n, i) for i, n in enumerate(lengths) if 0 < n <= MAX_PRIMER_POINTS]
    if not fits:
        shortest = "its shortest line" if len(inks) > 1 else "the line"
        points = min((n for n in lengths if n), default=0)
        raise ValueError(f"{where}: {shortest} is {points} points long as the model reads it; "
                         f"it primes with one line of at most {MAX_PRIMER_POINTS}: add a "
                         "shorter line")
    return inks[max(fits)[1]]


def check_style(writer: Writer, inks: list[Ink], where: list[str]) -> list[str]:
    """Refuse lines that cannot prime `writer` or a style with no line short enough to prime;
    return the warnings about the rest (`where[i]` names line i in messages)."""
    warnings = [check_line(writer, ink, at) for ink, at in zip(inks, where, strict=True)]
    primer_line(writer, inks, where[0] if len(inks) == 1 else "the style")
    return [w for w in warnings if w]


def save_style_weights(name: str, tensors: dict[str, torch.Tensor]) -> Path:
    """Store what was learnt of style `name` (`adapt.adapted_style`'s tensors) beside its ink."""
    if not (styles_dir() / f"{check_name(name)}.inkml").is_file():
        raise FileNotFoundError(f"no style named {name!r}")
    path = weights_path(name)
    kept = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda f: torch.save(kept, f))  # a crash never leaves half a file
    return path


def load_style_weights(name: str) -> dict[str, torch.Tensor] | None:
    """What was learnt of style `name` (`save_style_weights`), or None."""
    path = weights_path(name)
    return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None


def weights_path(name: str) -> Path:
    """Where what was learnt of style `name` is kept: a style adapted to, not only read."""
    return styles_dir() / f"{check_name(name)}.pt"
