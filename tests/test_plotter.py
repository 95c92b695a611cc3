import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from handwriter.layout import Sheet
from handwriter.plotter import (
    HPGL_UNITS,
    PlotterConfig,
    older_sheets,
    order_strokes,
    plot_order,
    save_sheets,
    to_gcode,
    to_hpgl,
    to_svg,
    travel,
)
from handwriter.render import PenStyle

SVG = "{http://www.w3.org/2000/svg}"


def a_sheet(seed: int = 0, n: int = 25) -> Sheet:
    """Short random strokes (and a dot) scattered over an A6 sheet inside 10 mm margins."""
    rng = np.random.default_rng(seed)
    strokes = [np.cumsum(np.r_[rng.uniform(15, 90, (1, 2)), rng.normal(0, 1, (8, 2))], 0)
               for _ in range(n)]
    return Sheet(105.0, 148.0, [strokes[:10], strokes[10:] + [np.array([[50.0, 60.0]])]],
                 ["one", "two"])


def simulate_gcode(gcode: str) -> list[tuple[str, bool, float, float, float]]:
    """(command, pen down, x, y, feed) for each G0/G1 move, tracking the servo."""
    pen_down, feed, moves = None, None, []
    for line in gcode.splitlines():
        words = dict((w[0], w[1:]) for w in line.split())
        if line.startswith("M3"):
            pen_down = float(words["S"]) == 0.0
        elif line.startswith(("G0 Z", "G1 Z")):
            pen_down = float(words["Z"]) == -1.0
            assert line.startswith("G1" if pen_down else "G0")  # the pen is lowered at a feed
        if line.startswith(("G0 X", "G1 X")):
            feed = float(words.get("F", feed))
            moves.append((line[:2], pen_down, float(words["X"]), float(words["Y"]), feed))
    return moves


@pytest.mark.parametrize("pen", ["servo", "z"])
def test_gcode_lifts_the_pen_to_travel_stays_on_the_page_and_uses_the_feeds(pen):
    sheet = a_sheet()
    cfg = PlotterConfig(pen=pen, pen_up=5.0 if pen == "z" else 40.0,
                        pen_down=-1.0 if pen == "z" else 0.0, draw_feed=1200, travel_feed=4000,
                        header="G21\\nG90\\n; my plotter", footer="G0 X0 Y0\\nM2")
    strokes = order_strokes(sheet.strokes)
    gcode = to_gcode(sheet, strokes, cfg)
    assert gcode.splitlines()[:3] == ["G21", "G90", "; my plotter"]
    assert gcode.splitlines()[-2:] == ["G0 X0 Y0", "M2"]
    moves = simulate_gcode(gcode)
    travels = [m for m in moves if m[0] == "G0"]
    draws = [m for m in moves if m[0] == "G1"]
    assert len(travels) == len(strokes) + 1          # one per stroke, and home in the footer
    assert len(draws) == sum(len(s) - 1 for s in strokes)
    assert all(not down and feed == 4000 for _, down, _, _, feed in travels[:-1])
    assert all(down and feed == 1200 for _, down, _, _, feed in draws)
    for _, _, x, y, _ in moves:
        assert 0 <= x <= sheet.width and 0 <= y <= sheet.height
    assert gcode.count(f"G4 P{cfg.pen_delay:g}") == 2 * len(strokes) + 1


def test_gcode_and_hpgl_count_y_up_from_the_bottom_left_unless_told():
    sheet = Sheet(100.0, 50.0, [[np.array([[10.0, 5.0], [20.0, 5.0]])]], ["x"])
    bottom = simulate_gcode(to_gcode(sheet, sheet.strokes, PlotterConfig()))
    top = simulate_gcode(to_gcode(sheet, sheet.strokes, PlotterConfig(origin_bottom_left=False)))
    assert bottom[0][2:4] == (10.0, 45.0) and top[0][2:4] == (10.0, 5.0)
    assert to_hpgl(sheet, sheet.strokes, PlotterConfig()).startswith("IN;SP1;PU400,1800;")
    with pytest.raises(ValueError, match="--pen: expected servo or z"):  # as it is made
        PlotterConfig(pen="laser")
    with pytest.raises(ValueError, match="--draw-feed and --travel-feed must be above 0"):
        PlotterConfig(travel_feed=0)
    with pytest.raises(ValueError, match="--pen-up and --pen-down must be numbers, got nan"):
        PlotterConfig(pen_up=float("nan"))


def test_the_plot_starts_and_travel_counts_from_where_the_machine_starts(tmp_path):
    top_left, bottom_left = np.array([[5.0, 5.0], [6.0, 5.0]]), np.array([[5.0, 45.0],
                                                                         [6.0, 45.0]])
    sheet = Sheet(100.0, 50.0, [[top_left], [bottom_left]], ["a", "b"])
    cfg = PlotterConfig()
    assert plot_order(sheet, cfg, ".gcode")[0] is bottom_left  # G-code: home bottom-left
    assert plot_order(sheet, cfg, ".svg")[0] is top_left       # an SVG: home top-left
    (_, _, gcode), = save_sheets([sheet], tmp_path / "a.gcode")
    (_, _, svg), = save_sheets([sheet], tmp_path / "a.svg")
    out_across_back = np.hypot(5, 5) + 40 + np.hypot(5, 45)  # the far stroke drawn backwards
    assert gcode == pytest.approx(out_across_back) and svg == pytest.approx(out_across_back)


def test_ordering_cuts_travel_and_keeps_every_stroke():
    def either_way(strokes):  # each stroke as a tuple, whichever way round it is drawn
        return sorted(min(tuple(map(tuple, s.tolist())), tuple(map(tuple, s[::-1].tolist())))
                      for s in strokes)

    for seed in range(5):
        strokes = a_sheet(seed).strokes
        ordered = order_strokes(strokes)
        assert travel(ordered) <= travel(strokes)
        assert either_way(ordered) == either_way(strokes)
    line = [np.array([[0.0, 0], [1, 0]]), np.array([[3.0, 0], [2, 0]]),
            np.array([[4.0, 0], [5, 0]])]
    assert travel(line) == pytest.approx(0 + 2 + 2 + 5)
    assert travel(order_strokes(line)) == pytest.approx(0 + 1 + 1 + 5)  # 2nd turned round


def test_plotter_svg_has_one_path_per_stroke_in_mm_and_no_fills():
    sheet = a_sheet()
    root = ET.fromstring(to_svg(sheet, sheet.strokes))
    assert (root.get("width"), root.get("height")) == ("105mm", "148mm")
    assert root.get("viewBox") == "0 0 105 148"
    paths = root.findall(f".//{SVG}path")
    assert len(paths) == len(sheet.strokes) == 26
    assert all(el.get("fill") in (None, "none") for el in root.iter())
    first = [float(v) for v in re.findall(r"-?\d+\.\d+", paths[0].get("d"))]
    np.testing.assert_allclose(np.reshape(first, (-1, 2)), sheet.strokes[0], atol=0.006)
    group = ET.fromstring(to_svg(sheet, sheet.strokes, PenStyle(color="navy", pen_width=0.8)))[0]
    assert (group.get("stroke"), group.get("stroke-width")) == ("navy", "0.8")  # the pen's


def test_hpgl_draws_each_stroke_in_plotter_units():
    sheet = a_sheet()
    hpgl = to_hpgl(sheet, sheet.strokes, PlotterConfig())
    commands = hpgl.strip().rstrip(";").split(";")
    assert commands[:2] == ["IN", "SP1"] and commands[-2:] == ["PU0,0", "SP0"]  # home
    assert sum(c.startswith("PD") for c in commands) == len(sheet.strokes)
    numbers = np.array([int(v) for c in commands for v in re.findall(r"-?\d+", c[2:])])
    assert numbers.min() >= 0 and numbers.max() <= 148 * HPGL_UNITS


def test_save_sheets_numbers_pages_and_reports_travel(tmp_path):
    sheets = [a_sheet(0), a_sheet(1)]
    saved = save_sheets(sheets, tmp_path / "letter.svg")
    assert [p.name for p, _, _ in saved] == ["letter-1.svg", "letter-2.svg"]
    assert all(after <= before for _, before, after in saved)
    one, = save_sheets(sheets[:1], tmp_path / "card.gcode", PlotterConfig(order=False))
    assert one[0].name == "card.gcode" and one[1] == one[2]
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ValueError, match=r"x\.gif: a page can be saved as .svg .png"):
        save_sheets(sheets, tmp_path / "x.gif")
    (tmp_path / "letter-3.svg").write_text("")  # an earlier, longer letter's last sheet
    (tmp_path / "letter-notes.svg").write_text("")  # not a sheet
    assert older_sheets(tmp_path / "letter.svg", 2) == [tmp_path / "letter-3.svg"]
    assert older_sheets(tmp_path / "letter.svg", 1) == [tmp_path / f"letter-{i}.svg"
                                                        for i in (1, 2, 3)]


def test_preview_png_shows_travel_in_its_own_colour(tmp_path):
    sheet = a_sheet()
    style = PenStyle(px_per_mm=4, color="blue")
    save_sheets([sheet], tmp_path / "ink.png", style=style)
    save_sheets([sheet], tmp_path / "moves.png", style=style, travel_color="red")
    ink = np.asarray(Image.open(tmp_path / "ink.png").convert("RGB")).astype(int)
    moves = np.asarray(Image.open(tmp_path / "moves.png").convert("RGB")).astype(int)
    assert ink.shape == (148 * 4, 105 * 4, 3)
    red = (moves[..., 0] > 200) & (moves[..., 1] < 80) & (moves[..., 2] < 80)
    assert red.sum() > 100 and not ((ink[..., 0] > 200) & (ink[..., 1] < 80)).any()
    assert ((ink[..., 2] > 200) & (ink[..., 0] < 80)).sum() > 100      # the blue pen


def test_vpype_reads_our_svg(tmp_path):
    vpype = pytest.importorskip("vpype")
    sheet = a_sheet()
    path = tmp_path / "page.svg"
    save_sheets([sheet], path, PlotterConfig(order=False))
    lines, width, height = vpype.read_svg(str(path), quantization=0.01)
    px_per_mm = 96 / 25.4
    assert (width, height) == pytest.approx((105 * px_per_mm, 148 * px_per_mm))
    assert len(lines) == len(sheet.strokes)
    x0, y0, x1, y1 = lines.bounds()
    points = np.concatenate(sheet.strokes) * px_per_mm
    assert (x0, y0) == pytest.approx(tuple(points.min(0)), abs=0.1)
    assert (x1, y1) == pytest.approx(tuple(points.max(0)), abs=0.1)
