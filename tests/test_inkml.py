from pathlib import Path

import numpy as np
import pytest

from handwriter.data import robust_height
from handwriter.ink import Ink, InkError, read_inkml, read_lines, write_inkml
from handwriter.ink.core import page_lines

GROUPS = """<?xml version="1.0" encoding="UTF-8"?>
<ink xmlns="http://www.w3.org/2003/InkML">
  <annotation type="writer">w7</annotation>
  <trace xml:id="t0">10 20, 11 22</trace>
  <traceGroup>
    <annotation type="truth">hi</annotation>
    <trace>0 0 5, 1 -2 6,
      3 4 7</trace>
    <traceView traceDataRef="#t0"/>
  </traceGroup>
  <traceGroup>
    <annotation type="truth">a</annotation>
    <annotation type="writer">w8</annotation>
    <trace>5 5</trace>
  </traceGroup>
  <trace>7 7, 8 8</trace>
</ink>
"""


def test_reads_truth_groups_and_leftover_traces(tmp_path):
    f = tmp_path / "groups.inkml"
    f.write_text(GROUPS)
    inks = read_inkml(f)
    assert [(i.text, i.writer) for i in inks] == [("hi", "w7"), ("a", "w8"), ("", "w7")]
    np.testing.assert_array_equal(inks[0].points, [[0, 0], [1, 2], [3, -4], [10, -20], [11, -22]])
    np.testing.assert_array_equal(inks[0].strokes[:, 2], [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(inks[2].strokes, [[7, -7, 0], [1, -1, 1]])


def test_a_transcription_annotation_is_the_text_as_truth_is(tmp_path):
    f = tmp_path / "transcribed.inkml"
    f.write_text(GROUPS.replace('type="truth"', 'type="transcription"'))
    assert [(i.text, i.writer) for i in read_inkml(f)] == [("hi", "w7"), ("a", "w8"), ("", "w7")]


def test_document_truth_makes_one_ink_without_namespace(tmp_path):
    f = tmp_path / "expr.inkml"
    f.write_text('<ink><annotation type="truth">$x$</annotation><trace>1 1, 2 3</trace>'
                 '<traceGroup><traceGroup><annotation type="truth">x</annotation>'
                 '<traceView traceDataRef="0"/></traceGroup></traceGroup><trace>4 4</trace></ink>')
    [ink] = read_inkml(f)
    assert ink.text == "$x$"
    np.testing.assert_array_equal(ink.strokes, [[1, -1, 0], [1, -2, 1], [2, -1, 1]])


def test_difference_qualifiers_and_y_up_orientation(tmp_path):
    f = tmp_path / "diff.inkml"
    f.write_text('<ink><traceFormat><channel name="X"/><channel name="Y" orientation="-ve"/>'
                 "</traceFormat><trace>10 20, '1'2, 1 2, \"1\"0, !0!0</trace></ink>")
    [ink] = read_inkml(f)
    np.testing.assert_array_equal(ink.points, [[10, 20], [11, 22], [12, 24], [14, 26], [0, 0]])


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    strokes = rng.normal(0, 50, (40, 3)).astype(np.float32)
    strokes[:, 2] = 0
    strokes[[9, 25, 39], 2] = 1
    inks = [Ink(strokes, text='say "hi" & <go>', writer="w1"),
            Ink([[100, 200, 0], [-1, -1, 1]], text="", writer="")]
    f = tmp_path / "out.inkml"
    write_inkml(f, inks)
    back = read_inkml(f)
    assert [(i.text, i.writer) for i in back] == [(i.text, i.writer) for i in inks]
    for a, b in zip(inks, back, strict=True):
        np.testing.assert_allclose(b.strokes, a.strokes, rtol=1e-6, atol=1e-5)
        np.testing.assert_array_equal(b.strokes[:, 2], a.strokes[:, 2])
    assert "100 -200, 99 -199" in f.read_text()  # standard InkML: y down, integers plain


def test_bad_trace_names_file_and_line(tmp_path):
    f = tmp_path / "bad.inkml"
    f.write_text(GROUPS.replace("3 4 7", "3 x 7"))
    with pytest.raises(InkError, match=r"bad\.inkml:8: expected 'x y' numbers in <trace>, "
                                       r"got '3 x 7'"):
        read_inkml(f)


def test_broken_xml_names_file_and_line(tmp_path):
    f = tmp_path / "broken.inkml"
    f.write_text(GROUPS.replace("</traceGroup>\n  <traceGroup>", "</traceGrop>\n  <traceGroup>"))
    with pytest.raises(InkError, match=r"broken\.inkml:10: bad XML: mismatched tag"):
        read_inkml(f)


def test_unknown_trace_reference_is_an_error(tmp_path):
    f = tmp_path / "ref.inkml"
    f.write_text(GROUPS.replace("#t0", "#t9"))
    with pytest.raises(InkError, match=r"ref\.inkml:9: traceView refers to unknown id 't9'"):
        read_inkml(f)


NOTE_APP = """<?xml version="1.0"?>
<document app="notes">
  <page>
    <ink xmlns="http://www.w3.org/2003/InkML">
      <traceGroup><trace>0 0, 1 1</trace><trace>2 2, 3 3, 4 4</trace></traceGroup>
      <traceGroup><annotation type="truth">second</annotation><trace>5 5, 6 6</trace></traceGroup>
      <traceGroup><trace>7 7, 8 8, 9 9</trace></traceGroup>
    </ink>
  </page>
  <ink><trace>1 1, 2 2</trace></ink>
</document>
"""


def test_ink_inside_another_root_and_lines_in_groups(tmp_path):
    f = tmp_path / "notes.xml"
    f.write_text(NOTE_APP)
    inks = read_inkml(f)
    assert [(i.text, len(i)) for i in inks] == [("", 5), ("second", 2), ("", 3), ("", 2)]
    np.testing.assert_array_equal(inks[0].strokes[:, 2], [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(inks[2].points, [[7, -7], [8, -8], [9, -9]])


def test_a_document_without_ink_is_an_error(tmp_path):
    f = tmp_path / "other.xml"
    f.write_text("<document>\n<page/>\n</document>\n")
    with pytest.raises(InkError, match=r"other\.xml:1: expected an <ink> document, got "
                                       r"<document> with no <ink> inside"):
        read_inkml(f)


def test_a_note_apps_page_without_groups_is_read_line_by_line(tmp_path):
    def letters(x0, y0, delayed=False):  # one line of four "letters", a comma and a late dot
        traces = [[(x0 + x, y0), (x0 + x + 4, y0 - 8), (x0 + x + 8, y0)] for x in (0, 10, 20, 30)]
        traces.append([(x0 + 40, y0), (x0 + 39, y0 + 3)])  # a comma, hanging below
        if delayed:
            traces.append([(x0 + 14, y0 - 12), (x0 + 14, y0 - 12)])  # back left, not lower
        return traces

    page = letters(0, 0, delayed=True) + letters(2, 30) + letters(-1, 60)  # y down, as files
    body = "\n".join("  <trace>" + ", ".join(f"{x} {y}" for x, y in t) + "</trace>"
                     for t in page)
    f = tmp_path / "page.inkml"
    f.write_text(f'<ink xmlns="http://www.w3.org/2003/InkML">\n{body}\n</ink>\n')
    inks = read_inkml(f)
    assert [len(ink.stroke_list) for ink in inks] == [6, 5, 5]
    assert [ink.points[:, 1].max() for ink in inks] == [12, -22, -52]  # y up: each lower


UNIPEN_LINES = Path(__file__).parents[2] / "shared" / "data" / "unipen" / "lines.npz"


@pytest.mark.skipif(not UNIPEN_LINES.exists(), reason="needs ../shared/data/unipen")
def test_real_lines_stacked_on_a_page_are_split_back():
    inks = read_lines(UNIPEN_LINES)
    rng = np.random.default_rng(0)
    single = [inks[i] for i in rng.choice(len(inks), 500, replace=False)]
    assert sum(len(page_lines(list(ink.stroke_list))) > 1 for ink in single) <= 15  # 1% seen
    right = 0
    for start in rng.choice(len(inks) - 3, 200, replace=False):
        group = inks[start:start + 3]
        if len({ink.writer for ink in group}) > 1:
            group = [group[0]] * 3  # one writer's hand, three times
        pitch = 3 * np.median([robust_height(ink.strokes) for ink in group])
        page, truth = [], []
        for row, ink in enumerate(group):
            points = np.concatenate(ink.stroke_list)
            corner = [points[:, 0].min(), np.median(points[:, 1]) + row * pitch]
            page += [s - corner for s in ink.stroke_list]
            truth += [row] * len(ink.stroke_list)
        got = page_lines(page)
        right += [sorted(line) for line in got] == [
            [i for i, t in enumerate(truth) if t == row] for row in range(3)]
    assert right >= 180  # 97% seen at three line heights apart
