import ast
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

import handwriter.ink
from handwriter.data import MODEL_UNITS
from handwriter.ink import Ink, read_lines
from handwriter.render import ink_to_svg, layout_page, render_gif, render_png, save_inks

SVG = "{http://www.w3.org/2000/svg}"


def make_ink(unit: float = 1.0) -> Ink:
    """Three pen-down strokes in `unit`s: an upstroke, a wave, and a lone dot."""
    up = [(0, 0), (0, 5), (0, 10)]
    wave = [(3 + 3 * t, 5 + 4 * np.sin(t)) for t in np.linspace(0, 6, 40)]
    dot = [(26, 12)]
    return Ink.from_stroke_list([np.array(s, float) * unit for s in (up, wave, dot)])


def ink_pixels(image: Image.Image) -> int:
    return int((np.asarray(image.convert("L")) < 128).sum())


def test_layout_makes_lines_of_any_unit_look_alike():
    small, big = make_ink(1.0), make_ink(37.0)
    page = layout_page([small, big], line_height=100, margin=10)
    for a, b in zip(page.lines[0], page.lines[1], strict=True):
        np.testing.assert_allclose(b, a + [0, 100], atol=1e-6)  # same shape, one line lower
    points = np.concatenate([s for line in page.lines for s in line])
    assert points.min() == pytest.approx(10)
    assert points[:, 0].max() == pytest.approx(page.width - 10)


def test_a_line_that_reaches_low_pushes_the_next_line_down_not_into_it():
    tail = Ink.from_stroke_list([*make_ink().stroke_list, np.array([[20.0, 0], [20, -40]])])
    page = layout_page([make_ink(), tail, make_ink(), make_ink()], line_height=100, margin=10)
    lowest = [max(s[:, 1].max() for s in line) for line in page.lines]
    highest = [min(s[:, 1].min() for s in line) for line in page.lines]
    assert highest[2] - highest[1] > 100  # moved down from its slot ...
    assert highest[2] - lowest[1] == pytest.approx(5)  # ... to just under the tail (GAP)
    assert highest[3] - highest[2] == pytest.approx(100)  # and on from there a line apart
    assert page.height >= lowest[3] + 10 - 1e-6


def test_svg_has_a_path_per_stroke_and_flips_y():
    svg = ink_to_svg([make_ink(), make_ink(5.0)], width=300)
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg" and root.get("width") == "300.00"
    paths = root.findall(f".//{SVG}path")
    assert len(paths) == 4 and len(root.findall(f".//{SVG}circle")) == 2  # dots are circles
    first = [float(v) for v in paths[0].get("d").replace("M", "").split("L")[0].split()]
    last = [float(v) for v in paths[0].get("d").split("L")[-1].split()]
    assert last[1] < first[1]  # drawn upwards in ink -> towards the top of the SVG
    _, _, w, h = (float(v) for v in root.get("viewBox").split())
    coords = np.array([[float(v) for v in seg.replace("M", "").split()]
                       for p in paths for seg in p.get("d").split("L")])
    assert np.all(coords > 0) and np.all(coords < [w, h])


def test_png_has_ink_where_the_layout_puts_it():
    ink = make_ink()
    buf = io.BytesIO()
    render_png([ink], buf, scale=2, stroke_width=4)
    image = Image.open(buf)
    page = layout_page([ink])
    assert image.mode == "RGB" and image.size == (round(page.width * 2), round(page.height * 2))
    pixels = np.asarray(image.convert("L"))
    x, y = np.round(page.lines[0][0][1] * 2).astype(int)  # the upstroke's middle point
    assert pixels[y, x] < 64 and pixels[0, 0] == 255
    assert 0 < ink_pixels(image) < pixels.size // 4


def test_png_width_sets_the_size(tmp_path):
    render_png([make_ink()], tmp_path / "a.png", width=123)
    assert Image.open(tmp_path / "a.png").size[0] == 123


def test_gif_writes_in_order_and_holds_the_last_frame(tmp_path):
    path = tmp_path / "a.gif"
    render_gif([make_ink(), make_ink()], path, points_per_frame=5, fps=10)
    sequence = ImageSequence.Iterator(Image.open(path))
    frames = [(f.convert("RGB"), f.info["duration"]) for f in sequence]
    assert len(frames) > 5
    inked = [ink_pixels(f) for f, _ in frames]
    assert inked == sorted(inked) and inked[-1] > inked[0]
    assert frames[0][1] == 100 and frames[-1][1] == 1600


def test_gif_caps_the_frame_count(tmp_path):
    render_gif([make_ink()] * 4, tmp_path / "a.gif", max_frames=6)
    assert Image.open(tmp_path / "a.gif").n_frames <= 6


def test_empty_inks_give_an_empty_page(tmp_path):
    empty = Ink(np.zeros((0, 3)))
    for inks in ([], [empty], [empty, make_ink()]):
        ET.fromstring(ink_to_svg(inks))
        for ext in ("png", "gif"):
            save_inks(inks, tmp_path / f"page.{ext}")
            Image.open(tmp_path / f"page.{ext}").load()
    assert ink_pixels(Image.open(tmp_path / "page.png")) > 0


def test_save_inks_round_trips_npz(tmp_path):
    inks = [make_ink(), make_ink(2.5)]
    save_inks(inks, tmp_path / "lines.npz")
    back = read_lines(tmp_path / "lines.npz")
    for a, b in zip(inks, back, strict=True):
        np.testing.assert_array_equal(a.strokes, b.strokes)


def test_saving_lives_in_render_and_ink_never_imports_it(tmp_path):
    save_inks([make_ink()], tmp_path / "one.SVG")
    assert ET.parse(tmp_path / "one.SVG").getroot().tag == SVG + "svg"
    assert not list(tmp_path.glob("*.tmp"))
    imported = set()
    for source in Path(handwriter.ink.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module or "")
    assert imported and not {m for m in imported if "render" in m or "plotter" in m}


def test_unknown_extension_names_it_and_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"x\.txt: .*\.svg .*\.inkml, not '\.txt'"):
        save_inks([make_ink()], tmp_path / "x.txt")
    with pytest.raises(TypeError, match="drawing options"):
        save_inks([make_ink()], tmp_path / "x.npz", width=10)


def test_gif_last_frame_matches_the_png(tmp_path):
    """Frame by frame, the pieces must join up into the same picture as the PNG."""
    inks = [make_ink(), make_ink(3.0)]
    render_png(inks, tmp_path / "a.png")
    render_gif(inks, tmp_path / "a.gif", points_per_frame=3)
    gif = Image.open(tmp_path / "a.gif")
    gif.seek(gif.n_frames - 1)
    png = np.asarray(Image.open(tmp_path / "a.png").convert("L"), dtype=int)
    last = np.asarray(gif.convert("L"), dtype=int)
    assert np.abs(png - last).max() <= 255 // 15  # GIF shades come in 16 levels


def test_one_scale_keeps_relative_sizes():
    small = Ink.from_stroke_list([np.array([[0, 0], [10, 10], [20, 0]])])
    big = Ink.from_stroke_list([np.array([[0, 0], [30, 30], [60, 0]])])
    def heights(page):
        return [np.ptp(np.concatenate(line)[:, 1]) for line in page.lines]
    each = heights(layout_page([small, big]))
    same = heights(layout_page([small, big], one_scale=True))
    assert each[0] == pytest.approx(each[1])
    assert same[1] == pytest.approx(3 * same[0])
    for ink in (small, big):  # a model's output is laid out at one scale unless told not to
        ink.meta["units"] = MODEL_UNITS
    assert heights(layout_page([small, big])) == pytest.approx(same)
    assert heights(layout_page([small, big], one_scale=False)) == pytest.approx(each)
