"""W3C InkML (https://www.w3.org/TR/InkML/) to and from `Ink`, plus XML parsing with line numbers.

Reading, for each `<ink>` element (the root, or each one inside another root, as note apps
write them): a document-level `<annotation type="truth">` (or `type="transcription"`) makes
it one Ink with that text (CROHME style, its symbol groups are ignored); otherwise each
outermost `<traceGroup>` with such an annotation is one Ink, then each other outermost
`<traceGroup>` is one with text "", and the traces no group uses are split into lines by
where they lie on the page (`page_lines`), each an Ink with text "". `<annotation
type="writer">` names the writer, on the document or a group. The first two channels of a
trace are x and y; values may use the `!`, `'` and `"` (explicit, first and second
difference) qualifiers of the spec; other channels are ignored.

y direction: InkML's default axes, like a screen, have y pointing DOWN, and most producers
write that. So `write_inkml` negates y (files look right in other InkML viewers) and
`read_inkml` negates it back, unless the Y channel declares `orientation="-ve"` (y up).
Numbers are written with Python's shortest exact float repr, so write -> read gives back the
same float32 strokes (every trace ends with a pen lift).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .core import Ink, InkError, atomic_write, page_lines

INKML_NS = "http://www.w3.org/2003/InkML"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"

# one channel value: optional difference qualifier, then a decimal number not run into more digits
_VALUE = re.compile(r"\s*([!'\"]?)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\d.eE])")


class _LineTracker(ET.TreeBuilder):
    """A TreeBuilder noting the line each start tag ends on (its text starts there too)."""

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.lines: dict[ET.Element, int] = {}

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        self.lines[element] = self.line
        return element


def read_xml(path: str | Path) -> tuple[ET.Element, dict[ET.Element, int]]:
    """Parse an XML file into `(root, line of each element)` so readers can say `file:line`."""
    path = Path(path)
    builder = _LineTracker()
    parser = ET.XMLParser(target=builder)
    try:
        with open(path, "rb") as f:
            # feed line by line: the builder's start() runs while that line is being parsed
            for number, line in enumerate(f, 1):
                builder.line = number
                parser.feed(line)
            root = parser.close()
    except ET.ParseError as e:
        raise xml_error(path, e) from None
    return root, builder.lines


def xml_error(path: Path, error: ET.ParseError) -> InkError:
    """Turn expat's `msg: line L, column C` into our `path:L: bad XML: msg`."""
    what = re.sub(r": line \d+, column \d+$", "", str(error))
    return InkError(path, error.position[0], f"bad XML: {what}")


def _local(tag: str) -> str:
    """Tag name without its namespace, so files with or without the InkML xmlns both read."""
    return tag.rsplit("}", 1)[-1]


TEXT = ("truth", "transcription")  # the annotation types that give a line's text


def _annotation(element: ET.Element, *kinds: str) -> str | None:
    for child in element:
        if _local(child.tag) == "annotation" and child.get("type") in kinds:
            return child.text or ""
    return None


def _outermost(element: ET.Element, name: str, keep=lambda e: True):
    """Descendants `<name>` for which `keep` holds, not inside another, in document order."""
    for child in element:
        if _local(child.tag) == name and keep(child):
            yield child
        else:
            yield from _outermost(child, name, keep)


def _traces_in(group: ET.Element, by_id: dict, path: Path, lines: dict) -> list[ET.Element]:
    """The `<trace>`s inside `group`, in document order, with `<traceView>` references resolved."""
    traces = []
    for element in group.iter():
        name = _local(element.tag)
        if name == "trace":
            traces.append(element)
        elif name == "traceView" and element.get("traceDataRef"):
            ref = element.get("traceDataRef").removeprefix("#")
            if ref not in by_id:
                raise InkError(path, lines[element], f"traceView refers to unknown id {ref!r}")
            if element.get("from") or element.get("to"):
                raise InkError(path, lines[element], "traceView from/to is not supported")
            traces += _traces_in(by_id[ref], by_id, path, lines)
    return traces


def _trace_points(trace: ET.Element, path: Path, line: int) -> np.ndarray:
    """Absolute `(n, 2)` x, y of one trace as written; `line` is where its text starts."""
    text = trace.text or ""
    mode, previous, velocity = ["!", "!"], [0.0, 0.0], [0.0, 0.0]
    points = []
    for piece in re.finditer(r"[^,]+", text):
        chunk, pos = piece.group(), 0
        if chunk.isspace():  # a trailing comma
            continue
        for channel in range(2):
            match = _VALUE.match(chunk, pos)
            if match is None:
                at = piece.start() + len(chunk) - len(chunk.lstrip())
                raise InkError(path, line + text.count("\n", 0, at),
                               f"expected 'x y' numbers in <trace>, got {chunk.strip()!r}")
            qualifier, number = match.groups()
            mode[channel] = qualifier or mode[channel]  # a qualifier holds until the next one
            value = float(number)
            if mode[channel] == "'":
                value += previous[channel]
            elif mode[channel] == '"':
                value += previous[channel] + velocity[channel]
            velocity[channel] = value - previous[channel] if points else 0.0
            previous[channel] = value
            pos = match.end()
        points.append(list(previous))
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def read_inkml(path: str | Path) -> list[Ink]:
    """Read an InkML file into Inks with y up (see the module docstring for what is an Ink).

    Note apps wrap `<ink>` in a document of their own and may hold several: each is read.
    """
    path = Path(path)
    root, lines = read_xml(path)
    inks = [root] if _local(root.tag) == "ink" else list(_outermost(root, "ink"))
    if not inks:
        raise InkError(path, lines[root], f"expected an <ink> document, got <{_local(root.tag)}> "
                       "with no <ink> inside")
    by_id = {e.get(XML_ID, e.get("id")): e for e in root.iter() if e.get(XML_ID, e.get("id"))}
    return [line for ink in inks for line in _read_ink_element(ink, by_id, path, lines)]


def _read_ink_element(root: ET.Element, by_id: dict, path: Path, lines: dict) -> list[Ink]:
    y_up = any(_local(e.tag) == "channel" and e.get("name") == "Y"
               and e.get("orientation") == "-ve" for e in root.iter())
    all_traces = [e for e in root.iter() if _local(e.tag) == "trace"]

    def points(trace: ET.Element) -> np.ndarray:
        return _trace_points(trace, path, lines[trace]) * (1, 1 if y_up else -1)

    def make_ink(traces: list[ET.Element], text: str, writer: str) -> Ink:
        return Ink.from_stroke_list([points(t) for t in traces], text=text, writer=writer,
                                    source=str(path))

    writer = _annotation(root, "writer") or ""
    text = _annotation(root, *TEXT)
    if text is not None:
        return [make_ink(all_traces, text, writer)]
    truth_groups = list(_outermost(root, "traceGroup", lambda g: _annotation(g, *TEXT)
                                   is not None))
    used = {t for group in truth_groups for t in _traces_in(group, by_id, path, lines)}
    # then each other group is a line with text "" (apps group a line's strokes), in order
    groups = truth_groups + list(_outermost(root, "traceGroup", lambda g: g not in truth_groups))
    order = {e: i for i, e in enumerate(root.iter())}
    inks = []
    for group in sorted(groups, key=order.get):
        text = _annotation(group, *TEXT)
        traces = [t for t in _traces_in(group, by_id, path, lines)
                  if text is not None or t not in used]
        used.update(traces)
        if traces or text is not None:
            inks.append(make_ink(traces, text or "", _annotation(group, "writer") or writer))
    rest = [t for t in all_traces if t not in used]  # a note app's page: lines by position
    for line in page_lines([points(t) for t in rest]):
        inks.append(make_ink([rest[i] for i in line], "", writer))
    return inks


def _number(value: float) -> str:
    """Shortest text that parses back to exactly this float64; integers without '.0'."""
    text = repr(float(value) + 0.0)  # + 0.0 turns -0.0 into 0.0
    return text.removesuffix(".0")


def write_inkml(path: str | Path, inks: list[Ink]) -> None:
    """Write inks as one truth-annotated traceGroup each, y DOWN as InkML viewers expect."""
    document = inkml_bytes(inks)
    atomic_write(path, lambda f: f.write(document))


def inkml_bytes(inks: list[Ink]) -> bytes:
    """The InkML document `write_inkml` writes, in memory."""
    root = ET.Element("ink", xmlns=INKML_NS)
    trace_format = ET.SubElement(root, "traceFormat")
    for name in ("X", "Y"):
        ET.SubElement(trace_format, "channel", name=name, type="decimal")
    for ink in inks:
        group = ET.SubElement(root, "traceGroup")
        ET.SubElement(group, "annotation", type="truth").text = ink.text
        if ink.writer:
            ET.SubElement(group, "annotation", type="writer").text = ink.writer
        for stroke in ink.stroke_list:
            trace = ET.SubElement(group, "trace")
            trace.text = ", ".join(f"{_number(x)} {_number(-y)}" for x, y in stroke)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
