"""Stroke data: the `Ink` line model and readers/writers for the formats people hold ink in."""

from pathlib import Path

from .core import (
    Ink,
    InkError,
    atomic_write,
    join_strokes,
    offsets_to_points,
    output_kind,
    points_to_offsets,
    read_lines,
    split_strokes,
    write_lines,
)
from .iamondb import read_iamondb
from .inkml import inkml_bytes, read_inkml, write_inkml
from .stroke3 import read_stroke3, write_stroke3
from .unipen import read_unipen

__all__ = [
    "Ink",
    "InkError",
    "FORMATS",
    "atomic_write",
    "convert",
    "guess_format",
    "inkml_bytes",
    "read_ink",
    "join_strokes",
    "offsets_to_points",
    "output_kind",
    "points_to_offsets",
    "read_iamondb",
    "read_inkml",
    "read_lines",
    "read_stroke3",
    "read_unipen",
    "split_strokes",
    "write_inkml",
    "write_lines",
    "write_stroke3",
]

FORMATS = ("unipen", "iam", "inkml", "stroke3", "npz")
READABLE = ("an .inkml or .xml file, a UNIPEN .dat file, a lines.npz or stroke-3 .npz, or a "
            "folder: a UNIPEN release's root (with data/), IAM-OnDB (with lineStrokes/) or "
            ".inkml files")


def guess_format(path: str | Path) -> str:
    """The format of an ink file or folder, from its extension, keys or layout."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "lineStrokes").is_dir():
            return "iam"
        if (path / "data").is_dir():
            return "unipen"
        if next(path.rglob("*.inkml"), None):
            return "inkml"
        raise InkError(path, None, f"a folder with no ink that handwriter reads; it reads "
                       f"{READABLE}")
    suffix = path.suffix.lower()
    if suffix in (".inkml", ".xml"):
        return "inkml"
    if suffix == ".dat":  # a UNIPEN data file
        return "unipen"
    if suffix == ".npz":
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = {n.removesuffix(".npy") for n in z.namelist()}
        except zipfile.BadZipFile:
            raise InkError(path, None, "not a .npz (zip) file") from None
        if {"strokes", "offsets"} <= names:
            return "npz"
        if names & {"train", "valid", "test"}:
            return "stroke3"
        raise InkError(path, None, f"neither the lines.npz layout (arrays 'strokes' and "
                       f"'offsets') nor stroke-3 ('train', 'valid', 'test'); it holds "
                       f"{sorted(names)}")
    raise InkError(path, None, f"cannot tell the ink format from {suffix or 'no extension'!r}"
                   f"; handwriter reads {READABLE} (`data convert --format` names one)")


def read_ink(path: str | Path, format: str | None = None, progress: bool = False) -> list[Ink]:
    """Read lines of ink from any supported format (`format` None guesses it)."""
    format = format or guess_format(path)
    if format == "unipen":
        from .unipen import read_unipen

        return read_unipen(path, progress=progress)
    readers = {"iam": read_iamondb, "inkml": read_inkml, "stroke3": read_stroke3,
               "npz": read_lines}
    if format not in readers:
        raise ValueError(f"unknown ink format {format!r}; expected one of {', '.join(FORMATS)}")
    if format == "inkml" and Path(path).is_dir():  # a folder of files, e.g. one per writer
        files = sorted(Path(path).rglob("*.inkml"))
        if not files:
            raise InkError(path, None, "a folder with no .inkml files in it")
        return [ink for file in files for ink in read_inkml(file)]
    return readers[format](path)


def convert(source: str | Path, output: str | Path, format: str | None = None,
            progress: bool = False) -> tuple[list[Ink], list[Ink]]:
    """Read `source` and write it as a lines.npz; returns the lines written and those left out.

    A set with transcriptions keeps only the lines that have text: a line with empty text
    would train the synthesis model to write nothing. A set with none at all (stroke-3
    drawings, sampled ink) is written whole, for training without text.
    """
    inks = read_ink(source, format, progress=progress)
    transcribed = [ink for ink in inks if ink.text.strip()]
    if not transcribed:
        write_lines(output, inks)
        return inks, []
    write_lines(output, transcribed)
    return transcribed, [ink for ink in inks if not ink.text.strip()]
