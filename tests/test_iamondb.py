import re

import numpy as np
import pytest

from handwriter.cli import main
from handwriter.ink import InkError, read_iamondb, read_lines

LINE = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession>
  <StrokeSet>
    <Stroke colour="black" start_time="769.05" end_time="769.64">
      <Point x="1073" y="1058" time="769.05"/>
      <Point x="1070" y="1060" time="769.06"/>
    </Stroke>
    <Stroke colour="black" start_time="770.00" end_time="770.10">
      <Point x="1100" y="1000" time="770.00"/>
    </Stroke>
  </StrokeSet>
</WhiteboardCaptureSession>
"""

ASCII = """OCR:

A MOVE to stop Mr. Gaitskell from
nominating any more Labour

CSR:

A MOVE to stop Mr. Gaitskell
from nominating any more Labour
"""

ORIGINAL = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession>
  <General>
    <Form id="a01-000u" writerID="10058"/>
  </General>
  <StrokeSet/>
</WhiteboardCaptureSession>
"""


def make_tree(root, original=True):
    """A two-form IAM-OnDB tree: a01-000u has text and a writer; b02-001x has neither."""
    lines = root / "lineStrokes" / "a01" / "a01-000"
    lines.mkdir(parents=True)
    (lines / "a01-000u-01.xml").write_text(LINE)
    (lines / "a01-000u-02.xml").write_text(LINE.replace('x="1100"', 'x="1200"'))
    other = root / "lineStrokes" / "b02" / "b02-001"
    other.mkdir(parents=True)
    (other / "b02-001x-03.xml").write_text(LINE)
    text = root / "ascii" / "a01" / "a01-000"
    text.mkdir(parents=True)
    (text / "a01-000u.txt").write_text(ASCII)
    if original:
        form = root / "original" / "a01" / "a01-000"
        form.mkdir(parents=True)
        (form / "strokesu.xml").write_text(ORIGINAL)


def test_reads_points_pen_lifts_and_flips_y(tmp_path):
    make_tree(tmp_path)
    ink = read_iamondb(tmp_path)[0]
    np.testing.assert_array_equal(ink.points, [[1073, -1058], [1070, -1060], [1100, -1000]])
    np.testing.assert_array_equal(ink.strokes, [[1073, -1058, 0], [-3, -2, 1], [30, 60, 1]])
    assert ink.meta == {"form": "a01-000u", "line": 1}
    assert ink.source.endswith("a01-000u-01.xml")


def test_text_comes_from_the_csr_lines_and_writer_from_original(tmp_path):
    make_tree(tmp_path)
    inks = read_iamondb(tmp_path)
    assert [i.text for i in inks] == ["A MOVE to stop Mr. Gaitskell",
                                      "from nominating any more Labour", ""]
    assert [i.writer for i in inks] == ["10058", "10058", "b02-001x"]
    assert inks[1].points[-1].tolist() == [1200, -1000]


def test_without_original_the_writer_is_the_form_id(tmp_path):
    make_tree(tmp_path, original=False)
    assert [i.writer for i in read_iamondb(tmp_path)] == ["a01-000u", "a01-000u", "b02-001x"]


def test_bad_point_names_file_and_line(tmp_path):
    make_tree(tmp_path)
    bad = tmp_path / "lineStrokes" / "a01" / "a01-000" / "a01-000u-02.xml"
    bad.write_text(LINE.replace('y="1060"', 'y="oops"'))
    with pytest.raises(InkError, match=r"a01-000u-02\.xml:6: <Point> needs numeric"):
        read_iamondb(tmp_path)


def test_broken_xml_names_file_and_line(tmp_path):
    make_tree(tmp_path)
    bad = tmp_path / "lineStrokes" / "a01" / "a01-000" / "a01-000u-01.xml"
    bad.write_text(LINE.replace("</Stroke>\n    <Stroke", "</Strokes>\n    <Stroke", 1))
    with pytest.raises(InkError, match=r"a01-000u-01\.xml:7: bad XML: mismatched tag"):
        read_iamondb(tmp_path)


def test_transcription_without_csr_is_an_error(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "ascii" / "a01" / "a01-000" / "a01-000u.txt").write_text("OCR:\n\nhello\n")
    with pytest.raises(InkError, match=r"a01-000u\.txt: no 'CSR:'"):
        read_iamondb(tmp_path)


def test_missing_root_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="lineStrokes"):
        read_iamondb(tmp_path)


def make_short_form(root):
    """A form shaped like IAM-OnDB's a08-551z: 9 stroke files, 8 transcribed lines."""
    lines = root / "lineStrokes" / "a08" / "a08-551"
    lines.mkdir(parents=True)
    for n in range(1, 10):
        (lines / f"a08-551z-{n:02d}.xml").write_text(LINE)
    text = root / "ascii" / "a08" / "a08-551"
    text.mkdir(parents=True)
    (text / "a08-551z.txt").write_text("CSR:\n\n" + "".join(f"line {n}\n" for n in range(1, 9)))


def test_a_stroke_file_past_the_transcription_is_skipped_with_a_warning(tmp_path):
    make_short_form(tmp_path)
    with pytest.warns(UserWarning, match=r"a08-551z-09\.xml: skipped, .*a08-551z\.txt "
                      r"transcribes 8 lines after 'CSR:', none for line 9"):
        inks = read_iamondb(tmp_path)
    assert [i.text for i in inks] == [f"line {n}" for n in range(1, 9)]
    assert inks[-1].source.endswith("a08-551z-08.xml")


def test_converting_writes_no_line_without_text(tmp_path, capsys):
    make_tree(tmp_path / "iam")  # b02-001x has no transcription at all
    make_short_form(tmp_path / "iam")
    out = tmp_path / "lines.npz"
    assert main(["data", "convert", str(tmp_path / "iam"), "-o", str(out)]) == 0
    _, err = capsys.readouterr()
    assert "warning: " in err and "a08-551z-09.xml: skipped" in err
    assert re.search(r"warning: left out 1 lines without a transcription: \S*b02-001x-03\.xml",
                     err)
    texts = [ink.text for ink in read_lines(out)]
    assert len(texts) == 10 and all(t.strip() for t in texts)
