"""Saved styles: a person's own ink and what it says, kept to prime the synthesis model.

Each style is one InkML file, `<name>.inkml`, in the user data folder (platformdirs), or in
`$HANDWRITER_DATA_DIR/styles` when that is set (tests, portable installs). A style holds
one or more lines, each with its transcription; `write_page(..., primer=..., primer_text=...)`
writes in it. Weights fine-tuned to a style (`finetune.fine_tune`) sit beside it, `<name>.pt`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from .ink import Ink, read_inkml, write_inkml

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
    return name


def save_style(name: str, inks: list[Ink]) -> Path:
    """Store `inks` (each line's `text` its transcription) as style `name`, replacing any."""
    check_name(name)
    if not inks:
        raise ValueError("a style needs at least one line of ink")
    for i, ink in enumerate(inks, 1):
        if len(ink) < 2 or not ink.text.strip():
            raise ValueError(f"line {i} of the style needs ink and its transcription")
    if sum(len(ink) for ink in inks) > MAX_POINTS:
        raise ValueError(f"a style holds at most {MAX_POINTS} points")
    folder = styles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.inkml"
    write_inkml(path, [Ink(ink.strokes, text=ink.text.strip()) for ink in inks])  # atomic
    path.with_suffix(".pt").unlink(missing_ok=True)  # weights fine-tuned to the old ink
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


def save_style_weights(name: str, tensors: dict[str, torch.Tensor]) -> Path:
    """Store the weights fine-tuned to style `name` (`finetune.fine_tune`) beside its ink."""
    ink = styles_dir() / f"{check_name(name)}.inkml"
    if not ink.is_file():
        raise FileNotFoundError(f"no style named {name!r}")
    path, tmp = ink.with_suffix(".pt"), ink.with_suffix(".pt.tmp")
    torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)
    os.replace(tmp, path)  # a crash never leaves half a file
    return path


def load_style_weights(name: str) -> dict[str, torch.Tensor] | None:
    """The weights fine-tuned to style `name` (for `Writer.adapted`), or None if it has none."""
    path = styles_dir() / f"{check_name(name)}.pt"
    return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None
