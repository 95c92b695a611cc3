from pathlib import Path

import numpy as np
import pytest

from handwriter.cli import main
from handwriter.ink import InkError, read_ink, read_lines, read_unipen

UNIPEN = Path(__file__).parents[1].parent / "shared" / "data" / "unipen"

DOC = """.VERSION 1.0
.X_POINTS_PER_MM 10
.POINTS_PER_SECOND 100
"""

PEN = """.COMMENT a header comment
    whose second line 1 2 is text, not a point
.WRITER_ID w1
.STYLE CURSIVE
.X_POINTS_PER_INCH 400
.COORD X Y T
.PEN_DOWN
10 20 0
12 21 5

13 25 10
.PEN_UP
.DT 30
.PEN_DOWN
30 20 40
.PEN_UP
.PEN_UP
40 40
41 41
.PEN_DOWN
50 10
51 11
52 12
.PEN_UP
"""

DATA = """.VERSION 1.0
.INCLUDE xyz/xyz.doc
.INCLUDE xyz/data/w1.dat
.SEGMENT TEXT 0-1 OK "say \\"hi\\""
.SEGMENT WORD 0 ? "say"
.SEGMENT TEXT 1-3 ? "hover skipped"
.SEGMENT TEXT 0:1-3:2 ? "cut"
.SEGMENT TEXT 3,0 GOOD "list"
"""


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def one_writer(tmp_path: Path, pen: str = PEN, data: str = DATA) -> Path:
    return write_tree(tmp_path, {"include/xyz/xyz.doc": DOC, "include/xyz/data/w1.dat": pen,
                                 "data/8/xyz/w1.dat": data})


def test_reads_text_lines_with_points_and_pen_lifts(tmp_path):
    inks = read_unipen(one_writer(tmp_path))
    assert [i.text for i in inks] == ['say "hi"', "hover skipped", "cut", "list"]
    first = inks[0]
    assert (first.writer, first.contributor, first.source) == ("xyz/w1", "xyz", "data/8/xyz/w1.dat")
    assert first.meta == {"delineation": "0-1", "points_per_inch": 400.0,
                          "points_per_second": 100.0, "style": "CURSIVE"}
    # raw units, y up as in the file, first row (0, 0, pen_lift)
    np.testing.assert_array_equal(first.strokes, [[0, 0, 0], [2, 1, 0], [1, 4, 1], [17, -5, 1]])
    assert first.strokes.dtype == np.float32
    # component 2 is a pen-up block: it counts in the numbering but is not ink
    np.testing.assert_array_equal(inks[1].points, [[0, 0], [20, -10], [21, -9], [22, -8]])
    np.testing.assert_array_equal(inks[1].strokes[:, 2], [1, 0, 0, 1])
    # 'c:p' starts at point p of the first component and stops before point p of the last
    np.testing.assert_array_equal(inks[2].points + [12, 21],
                                  [[12, 21], [13, 25], [30, 20], [50, 10], [51, 11]])
    np.testing.assert_array_equal(inks[2].strokes[:, 2], [0, 1, 1, 0, 1])
    # a comma list joins ranges in the order given
    np.testing.assert_array_equal(inks[3].points + [50, 10],
                                  [[50, 10], [51, 11], [52, 12], [10, 20], [12, 21], [13, 25]])
    np.testing.assert_array_equal(inks[3].strokes[:, 2], [0, 0, 1, 0, 0, 1])
    assert [len(i) for i in read_unipen(tmp_path, progress=True)] == [4, 4, 5, 6]


def test_numbering_restarts_at_each_start_set(tmp_path):
    root = write_tree(tmp_path, {
        "include/s/a.dat": ".START_SET\n.WRITER_ID a\n.X_POINTS_PER_MM 10\n"
                           ".PEN_DOWN\n0 0\n1 1\n.PEN_UP\n.PEN_DOWN\n5 5\n.PEN_UP\n",
        "include/s/b.dat": ".START_SET\n.WRITER_ID b\n.PEN_DOWN\n7 7\n8 9\n.PEN_UP\n",
        "data/8/s/x/ab.dat": '.INCLUDE s/a.dat\n.SEGMENT TEXT 1 ? "one"\n'
                             '.INCLUDE s/b.dat\n.SEGMENT TEXT 0 ? "two"\n'})
    one, two = read_unipen(root)
    assert (one.text, one.writer, one.meta["points_per_inch"]) == ("one", "s/a", 254.0)
    np.testing.assert_array_equal(one.strokes, [[0, 0, 1]])
    assert (two.text, two.writer, two.source) == ("two", "s/b", "data/8/s/x/ab.dat")
    np.testing.assert_array_equal(two.strokes, [[0, 0, 0], [1, 2, 1]])


@pytest.mark.parametrize("pen, data, where, what", [
    (PEN.replace("12 21 5", "12 x 5"), DATA, r"include/xyz/data/w1\.dat:9:", "'x y'"),
    (PEN.replace("51 11", "51"), DATA, r"include/xyz/data/w1\.dat:22:", "'x y'"),
    (PEN.replace("400", "many"), DATA, r"include/xyz/data/w1\.dat:5:", "number"),
    (PEN, DATA + '.SEGMENT TEXT 2-4 ? "x"\n', r"data/8/xyz/w1\.dat:9:", "components 2-4"),
    (PEN, DATA + '.SEGMENT TEXT 3:9-3 ? "x"\n', r"data/8/xyz/w1\.dat:9:", "asks for points"),
    (PEN, DATA + '.SEGMENT TEXT 1-x ? "x"\n', r"data/8/xyz/w1\.dat:9:", "range"),
    (PEN, DATA + ".INCLUDE xyz/gone.dat\n", r"data/8/xyz/w1\.dat:9:", "missing file"),
])
def test_malformed_input_names_file_and_line(tmp_path, pen, data, where, what):
    with pytest.raises(InkError, match=where) as error:
        read_unipen(one_writer(tmp_path, pen, data))
    assert what in str(error.value)


def test_one_data_file_reads_as_in_its_release_or_alone(tmp_path):
    root = one_writer(tmp_path)
    whole = read_unipen(root)
    one = read_ink(root / "data" / "8" / "xyz" / "w1.dat")  # guessed from .dat
    assert [(i.text, i.writer, i.contributor, i.source) for i in one] == [
        (i.text, i.writer, i.contributor, i.source) for i in whole]
    assert all(np.array_equal(a.strokes, b.strokes) for a, b in zip(one, whole, strict=True))
    alone = tmp_path / "alone"  # its includes beside it, as a file sent on its own
    alone.mkdir()
    (alone / "xyz" / "data").mkdir(parents=True)
    (alone / "xyz" / "data" / "w1.dat").write_text(PEN)
    (alone / "xyz" / "xyz.doc").write_text(DOC)
    (alone / "w1.dat").write_text(DATA)
    assert [i.text for i in read_unipen(alone / "w1.dat")] == [i.text for i in whole]


def test_missing_data_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_unipen(tmp_path)


@pytest.mark.skipif(not (UNIPEN / "raw").is_dir(), reason="needs ../shared/data/unipen")
def test_converted_raw_sites_reproduce_lines_npz(tmp_path):
    out = tmp_path / "x.npz"
    assert main(["data", "convert", str(UNIPEN / "raw"), "-o", str(out)]) == 0
    converted = {}
    for ink in read_lines(out):
        converted.setdefault((ink.source, ink.text), []).append(ink.strokes)
    sites = {p.name for p in (UNIPEN / "raw" / "data" / "8").iterdir()}
    with np.load(UNIPEN / "lines.npz", allow_pickle=False) as d:  # each d[key] reads the file
        ref = {k: d[k] for k in ("offsets", "strokes", "source_file", "text")}
    wanted = [i for i, s in enumerate(ref["source_file"]) if s.split("/")[2] in sites]
    matched = 0
    for i in wanted:
        line = ref["strokes"][ref["offsets"][i]:ref["offsets"][i + 1]]
        candidates = converted.get((ref["source_file"][i], ref["text"][i]), [])
        matched += any(np.array_equal(c, line) for c in candidates)
    assert len(wanted) > 2000
    assert matched >= 0.99 * len(wanted)
