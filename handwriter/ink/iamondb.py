"""IAM-OnDB (Liwicki & Bunke 2005), the whiteboard text lines Graves (2013) trained on.

Layout under `root`, as unpacked from the release archives:
    lineStrokes/a01/a01-000/a01-000u-01.xml   one text line: StrokeSet > Stroke > Point(x, y)
    ascii/a01/a01-000/a01-000u.txt            the form's text; the lines after `CSR:` in order
    original/a01/a01-000/strokesu.xml         optional: General > Form(writerID) for the form
Line `nn` of form `a01-000u` is the nn-th text line after `CSR:` (1-based). A stroke file past
a form's transcribed lines (a08-551z has 9 stroke files, 8 lines) is skipped with a warning:
its text is unknown. A form with no transcription at all gives lines with text "".
Writer: the form's `writerID` from original/ when that folder is there, else the form id
(`a01-000u`), since one form is one writer's session (a writer's several forms then count
as different writers). Whiteboard y points DOWN: we flip it to up.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

from .core import Ink, InkError
from .inkml import read_xml, xml_error


def read_iamondb(root: str | Path) -> list[Ink]:
    """Read every line of an IAM-OnDB tree, sorted by file name; whiteboard units, y up."""
    root = Path(root)
    line_dir = root / "lineStrokes"
    if not line_dir.is_dir():
        raise FileNotFoundError(f"{line_dir}: no such folder; is {root} an IAM-OnDB root?")
    ascii_files = {p.stem: p for p in (root / "ascii").rglob("*.txt")}
    writers = _read_writers(root / "original")
    texts: dict[str, list[str]] = {}
    inks = []
    for path in sorted(line_dir.rglob("*.xml")):
        name = re.fullmatch(r"(.+)-(\d+)", path.stem)
        if name is None:
            raise InkError(path, None, "expected a line file named like a01-000u-01.xml")
        form, line = name[1], int(name[2])
        if form not in texts:
            texts[form] = _read_csr(ascii_files[form]) if form in ascii_files else []
        text = ""
        if form in ascii_files:
            if not 1 <= line <= len(texts[form]):
                warnings.warn(f"{path}: skipped, {ascii_files[form]} transcribes "
                              f"{len(texts[form])} lines after 'CSR:', none for line {line}",
                              stacklevel=2)
                continue
            text = texts[form][line - 1]
        inks.append(Ink.from_stroke_list(
            _read_line_strokes(path), text=text, writer=writers.get(form, form),
            source=str(path), meta={"form": form, "line": line}))
    return inks


def _read_line_strokes(path: Path) -> list[list[tuple[float, float]]]:
    """The pen-down strokes of one lineStrokes file as absolute points, y flipped to up."""
    root, lines = read_xml(path)
    stroke_set = root.find("StrokeSet")
    if stroke_set is None:
        raise InkError(path, lines[root], f"no <StrokeSet> in <{root.tag}>")
    strokes = []
    for stroke in stroke_set.iter("Stroke"):
        points = []
        for point in stroke.iter("Point"):
            x, y = point.get("x"), point.get("y")
            try:
                points.append((float(x), -float(y)))
            except (TypeError, ValueError):
                raise InkError(path, lines[point],
                               f"<Point> needs numeric x and y, got x={x!r} y={y!r}") from None
        strokes.append(points)
    return strokes


def _read_csr(path: Path) -> list[str]:
    """The transcribed text lines of a form: the non-blank lines after its `CSR:` line."""
    lines = path.read_text(encoding="latin-1").splitlines()  # IAM files are ISO-8859-1
    for n, line in enumerate(lines):
        if line.strip() == "CSR:":
            return [s.strip() for s in lines[n + 1:] if s.strip()]
    raise InkError(path, None, "no 'CSR:' line (the transcription follows it)")


def _read_writers(original_dir: Path) -> dict[str, str]:
    """Form id -> writer id from `original/**/strokes<x>.xml`; empty when the folder is absent."""
    writers = {}
    for path in sorted(original_dir.rglob("strokes*.xml")):
        form_id, writer = _read_form(path)
        if writer:
            # a01-000/strokesu.xml holds form a01-000u; also trust the Form's own id if given
            writers[path.parent.name + path.stem.removeprefix("strokes")] = writer
            if form_id:
                writers[form_id] = writer
    return writers


def _read_form(path: Path) -> tuple[str, str]:
    """`(id, writerID)` of the `<Form>` near the top of an original form file, or empty."""
    try:
        with open(path, "rb") as f:
            # stop at <Form>: the whole file holds every stroke of the page and is slow to parse
            for _, element in ET.iterparse(f, events=("start",)):
                if element.tag == "Form":
                    return element.get("id", ""), element.get("writerID", "")
    except ET.ParseError as e:
        raise xml_error(path, e) from None
    return "", ""
