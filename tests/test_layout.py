import numpy as np
import pytest

from handwriter.ink import Ink
from handwriter.layout import (
    CLEARANCE,
    PageConfig,
    TextLine,
    column_profile,
    level,
    page_size,
    place_lines,
    slant,
    wrap_text,
)


def written(text: str, size: float = 1.0, lean: float = 0.0, descender: float = 0.0) -> Ink:
    """A made-up line in model units: one upright zigzag stroke per character, `size` high,
    leaning `lean` (dx per dy), with a descender of `descender` sizes under the last one."""
    strokes = []
    for i, _ in enumerate(text):
        x = 1.3 * size * i
        strokes.append(np.array([[x, 0.0], [x + lean * size, size], [x + 0.5 * size, 0.0]]))
    if descender:
        strokes[-1] = np.r_[strokes[-1], [[strokes[-1][-1, 0], -descender * size]]]
    return Ink.from_stroke_list(strokes, text=text)


def robust_height(line: list[np.ndarray]) -> float:
    y = np.concatenate(line)[:, 1]
    return float(np.subtract(*np.percentile(y, [90, 10])))


def test_page_sizes_by_name_or_in_mm_and_clear_errors():
    assert page_size(PageConfig(page="A5")) == (148.0, 210.0)
    assert page_size(PageConfig(page="postcard", margin=5)) == (148.0, 105.0)
    assert page_size(PageConfig(page="120x90mm")) == (120.0, 90.0)
    assert page_size(PageConfig(page="A5", landscape=True)) == (210.0, 148.0)
    assert page_size(PageConfig(page="postcard", landscape=True)) == (148.0, 105.0)  # already
    with pytest.raises(ValueError, match="--margin must be 0 mm or more, got -5"):
        page_size(PageConfig(margin=-5))
    with pytest.raises(ValueError, match="--wobble must be between 0 and 5, got -1"):
        page_size(PageConfig(wobble=-1))
    with pytest.raises(ValueError, match=r"--page: unknown page size 'A7'"):
        page_size(PageConfig(page="A7"))
    with pytest.raises(ValueError, match=r"--page: unknown page size '0x-3'"):
        page_size(PageConfig(page="0x-3"))
    with pytest.raises(ValueError, match=r"--margin: 60 mm leaves no room .* 148x105 mm"):
        page_size(PageConfig(page="postcard", margin=60))
    with pytest.raises(ValueError, match="--align"):
        page_size(PageConfig(align="justify"))


def test_wrapping_keeps_paragraphs_blank_lines_indents_and_every_word():
    text = "Dear Ann,\n\n\n    thank you for the lovely card and the photos\nTom\n"
    lines = wrap_text(text, 16)
    assert lines[0] == TextLine("Dear Ann,", 0, 0)
    assert lines[1] == TextLine("thank you", 4, 2)      # indented, after two blank lines
    assert all(len(line.text) + line.indent <= 16 for line in lines)
    assert lines[-1] == TextLine("Tom", 0, 0)
    assert " ".join(line.text for line in lines).split() == text.split()
    with pytest.raises(ValueError, match="empty"):
        wrap_text(" \n\t\n", 20)
    with pytest.warns(UserWarning, match="'Congratulations': longer than a line of 8"):
        assert [line.text for line in wrap_text("Congratulations", 8)] == ["Congratu", "lations"]


def test_every_line_gets_the_letter_height_and_the_page_slant():
    for size in (1.0, 3.0):
        inks = [written("abcdef", size), written("abc", 2.0, lean=0.3)]
        cfg = PageConfig(letter_height=4.0, wobble=0.0)
        sheet, = place_lines(inks, wrap_text("abcdef\nabc", 30), cfg)
        assert [robust_height(line) for line in sheet.lines] == pytest.approx([4.0, 4.0])
        slants = [slant([s * [1, -1] for s in line]) for line in sheet.lines]
        assert slants[0] == pytest.approx(slants[1], abs=1e-9)
    wobbly, = place_lines(inks, wrap_text("abcdef\nabc", 30), PageConfig(wobble=1.0), seed=1)
    again, = place_lines(inks, wrap_text("abcdef\nabc", 30), PageConfig(wobble=1.0), seed=1)
    other, = place_lines(inks, wrap_text("abcdef\nabc", 30), PageConfig(wobble=1.0), seed=2)
    np.testing.assert_array_equal(np.concatenate(wobbly.strokes), np.concatenate(again.strokes))
    assert not np.allclose(np.concatenate(wobbly.strokes), np.concatenate(other.strokes))
    heights = [robust_height(line) for line in wobbly.lines]
    assert heights != pytest.approx([3.5, 3.5], abs=1e-6)
    assert heights == pytest.approx([3.5, 3.5], rel=0.1)


def test_a_long_letter_goes_on_to_the_next_sheet_inside_the_margins():
    text = "\n".join(f"line {i}" for i in range(30))
    lines = wrap_text(text, 20)
    cfg = PageConfig(page="postcard", margin=10)
    sheets = place_lines([written(line.text) for line in lines], lines, cfg)
    assert len(sheets) >= 2
    assert [t for sheet in sheets for t in sheet.texts] == [line.text for line in lines]
    for sheet in sheets:
        points = np.concatenate(sheet.strokes)
        assert points.min() >= 10 - 1e-9
        assert points[:, 0].max() <= 148 - 10 + 1e-9 and points[:, 1].max() <= 105 - 10 + 1e-9


def test_descenders_never_run_into_the_next_line():
    lines = wrap_text("abc\nabc\nabc", 20)
    inks = [written("abc", descender=4.0), written("abc", descender=4.0), written("abc")]
    cfg = PageConfig(letter_height=4.0, line_spacing=1.5, wobble=0.0)
    sheet, = place_lines(inks, lines, cfg)
    for upper, lower in zip(sheet.lines, sheet.lines[1:], strict=False):
        above, below = column_profile(upper), column_profile(lower)
        gaps = [below[c][0] - above[c][1] for c in below if c in above]
        assert gaps and min(gaps) >= CLEARANCE * 4.0 - 1e-9
    # without the descender the lines sit at the asked spacing
    plain, = place_lines([written("abc")] * 3, lines, PageConfig(line_spacing=3, wobble=0.0))
    bases = [np.concatenate(line)[:, 1].max() for line in plain.lines]
    assert np.diff(bases) == pytest.approx([3 * 3.5, 3 * 3.5])


def test_alignment_puts_lines_against_the_margins():
    lines = wrap_text("abc\nabcdefgh", 30)
    inks = [written(line.text) for line in lines]
    right, = place_lines(inks, lines, PageConfig(align="right", wobble=0.0))
    assert [np.concatenate(line)[:, 0].max() for line in right.lines] == \
        pytest.approx([148 - 15] * 2)
    centre, = place_lines(inks, lines, PageConfig(align="centre", wobble=0.0))
    middles = [np.mean([np.concatenate(line)[:, 0].min(), np.concatenate(line)[:, 0].max()])
               for line in centre.lines]
    assert middles == pytest.approx([74.0, 74.0])


def test_level_undoes_a_sloping_baseline():
    ink = written("abcdefgh")
    points = np.concatenate(ink.stroke_list)
    turn = np.radians(10)
    rotated = [p @ np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
               for p in ink.stroke_list]
    flat, size = level(Ink.from_stroke_list(rotated))
    assert size == pytest.approx(robust_height([points]), rel=0.05)
    flat_height = np.ptp(points[:, 1]) / robust_height([points])   # 1: the zigzag's height
    assert np.ptp(np.concatenate(flat)[:, 1]) == pytest.approx(flat_height, rel=0.05)
