import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handwriter import writing
from handwriter.data import MODEL_UNITS, leaned, slant_of
from handwriter.ink import Ink
from handwriter.layout import PageConfig
from handwriter.sample import SampleConfig, Writer, draw, generate
from handwriter.writing import write_line, write_page


@pytest.fixture(scope="module")
def synth(synth_model):
    return Writer.load(synth_model)


def strokes_of(inks):
    return [ink.strokes for ink in inks]


# ---------------------------------------------------------------- pages and retries


def test_write_page_gives_one_line_per_text(synth):
    lines = ["ab ab", "hello", "xyz."]
    cfg = SampleConfig(max_points=300, seed=5)
    inks = write_page(synth, lines, cfg)
    assert [ink.text for ink in inks] == lines
    assert all(ink.meta["finished"] and 0 < len(ink) < 300 for ink in inks)
    again = write_page(synth, lines, cfg)
    for a, b in zip(strokes_of(inks), strokes_of(again), strict=True):
        np.testing.assert_array_equal(a, b)
    styled = write_page(synth, lines, cfg, style=3)
    assert [ink.text for ink in styled] == lines
    assert not np.array_equal(styled[0].strokes, inks[0].strokes)


def test_lines_in_a_writers_style_lean_toward_their_slant(synth, monkeypatch):
    monkeypatch.setattr(writing, "spoiled", lambda ink: False)  # random weights scribble
    cfg = SampleConfig(max_points=200, seed=5)
    text = "abcdefghijklmnopqrstuvwxyz " * 2
    plain = write_page(synth, [text], cfg)[0]
    now = slant_of(plain.strokes)
    hand = Ink(leaned(plain.strokes, now + 0.2), meta={"units": MODEL_UNITS})
    leaning = synth.leaning([hand, plain, hand])  # the median line's slant
    assert leaning.slant == pytest.approx(slant_of(hand.strokes)) and synth.slant is None
    assert leaning.slant > now + 0.1
    for lean in (0.5, 1.0):
        line = write_page(leaning, [text], replace(cfg, lean=lean))[0]
        assert slant_of(line.strokes) == pytest.approx(now + lean * (leaning.slant - now),
                                                       abs=0.02)
        np.testing.assert_allclose(line.strokes[:, 1:], plain.strokes[:, 1:])  # a shear
    unleaned = write_page(leaning, [text], replace(cfg, lean=0.0))[0]
    np.testing.assert_array_equal(unleaned.strokes, plain.strokes)
    with pytest.raises(ValueError, match="lean must be between 0 and 1"):
        SampleConfig(lean=1.5)


def test_a_letter_on_paper_is_in_one_hand_the_seeds_style_unless_told(synth, monkeypatch):
    asked = []
    real = writing.style_primer
    monkeypatch.setattr(writing, "style_primer",
                        lambda w, style, cfg, reader=None: asked.append(style) or real(
                            w, style, cfg, reader))
    page = PageConfig(page="A6")
    cfg = SampleConfig(max_points=200, seed=7)
    writing.write_sheets(synth, "ab ab", page, cfg)
    writing.write_sheets(synth, "ab ab", page, cfg, style=2)
    primer = Ink(np.array([[0, 0, 0], [1, 1, 0], [1, -1, 1]], np.float32), text="ab")
    writing.write_sheets(synth, "ab ab", page, cfg, primer=primer, primer_text="ab")
    assert asked == [7, 2]  # a primer of the user's own needs no style


def test_write_line_carries_on_from_its_pen_exactly(synth, monkeypatch):
    """With one candidate, growing a line segment by segment is plain sampling."""
    monkeypatch.setattr(writing, "spoiled", lambda ink: False)  # random weights scribble
    cfg = SampleConfig(max_points=40, seed=3, segment=7)
    for text in ("ab", "abcdefghijklmnopqrstuvwxyz"):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            grown = write_line(synth, text, cfg, generator=torch.Generator().manual_seed(3),
                               retries=0)
        assert [str(w.message) for w in said] == ([] if grown.meta["finished"] else [
            f"line 1 ({text!r}) stopped at 40 points before its text ended; a larger "
            "--max-points gives it room"])
        plain, _ = generate(synth, cfg, [text])
        np.testing.assert_array_equal(grown.strokes, plain[0].strokes)
        assert grown.meta["finished"] == plain[0].meta["finished"]
    assert not grown.meta["finished"] and len(grown) == 40  # the long line hit the cap


def test_a_line_that_never_finishes_is_started_again(synth, monkeypatch):
    lengths = []

    def spy(*args, **kw):
        inks, phis, pen = draw(*args, **kw)
        lengths.append(len(inks[0]))
        return inks, phis, pen

    monkeypatch.setattr(writing, "draw", spy)
    monkeypatch.setattr(writing, "spoiled", lambda ink: False)
    cfg = SampleConfig(max_points=20, segment=8, candidates=2)
    with pytest.warns(UserWarning, match="stopped at 20 points"):
        line = write_line(synth, "abcdefghijklmnopqrstuvwxyz", cfg, retries=2)
    # three attempts of three segments (8 + 8 + 4 points): after the cap, a fresh line
    assert lengths == [8, 8, 4] * 3
    assert len(line) == 20 and not line.meta["finished"]
    lengths.clear()
    assert write_line(synth, "ab", cfg, retries=2).meta["finished"] and len(lengths) == 1


def test_a_segment_with_only_spoiled_drafts_is_drawn_again_then_kept(synth, monkeypatch):
    calls = []

    def spy(*args, **kw):
        calls.append(args[2])
        return draw(*args, **kw)

    monkeypatch.setattr(writing, "draw", spy)
    monkeypatch.setattr(writing, "spoiled", lambda ink: True)
    text = "abcdefghijklmnopqrstuvwxyz"
    with pytest.warns(UserWarning, match="stopped at 20 points"):
        line = write_line(synth, text, SampleConfig(max_points=20, candidates=3), retries=2)
    # each of the 3 attempts at the (unfinishable) line draws its segment 11 times: 33 drafts
    assert writing.SPOILED_TRIES == 32
    assert calls == [[text] * 3] * 33 and len(line) == 20 and not line.meta["finished"]


def test_a_long_straight_pen_down_line_is_a_slip():
    def ink(*strokes):
        """Rows [dx, dy, pen_lift]; a lift after each stroke, then a long pen-up move."""
        rows = []
        for stroke in strokes:
            stroke = np.array(stroke, np.float32)
            stroke[-1, 2] = 1
            rows += [stroke, [[6.0, 0.0, 0.0]]]
        return Ink(np.concatenate(rows[:-1]))

    t = np.linspace(0, 6 * np.pi, 60)              # a wavy pen-down line 12 heights long
    wave = np.stack([np.full(60, 0.2), 0.3 * np.cos(t), np.zeros(60)], 1)
    straight = np.tile([[0.2, -0.1, 0]], (32, 1))   # 7.2 heights, dead straight
    assert not writing.spoiled(ink(wave, wave))  # the 6-height pen-up move is a gap, fine
    assert writing.spoiled(ink(wave, np.r_[wave, straight]))
    assert not writing.spoiled(ink(wave, straight[:20], straight[:20]))


def test_a_zigzag_scribble_in_place_spoils_a_draft():
    t = np.arange(40)
    zigzag = np.stack([np.full(40, 0.05), np.where(t % 2, 1.0, -1.0), np.zeros(40)], 1)
    zigzag[-1, 2] = 1
    assert writing.spoiled(Ink(zigzag.astype(np.float32)))
    calm = zigzag * [4, 0.25, 1]                     # the same strokes, spread out and flat
    assert not writing.spoiled(Ink(calm.astype(np.float32)))


def test_pacing_is_one_for_even_writing_and_low_for_squeezed_or_overwritten_words():
    def phi(dwell):  # one-hot window weights: each character attended for `dwell` points
        focus = np.repeat(np.arange(len(dwell)), dwell)
        return F.one_hot(torch.from_numpy(focus), len(dwell) + 1).float()

    def x(dwell, advance):  # the pen is `advance` further right on each next character
        return np.repeat(np.cumsum(advance), dwell)

    even = [10] * 12
    assert writing.pacing(phi(even), x(even, [1.0] * 12), 0, 12) == pytest.approx(1.0)
    squeezed = [10] * 7 + [1] * 5
    assert writing.pacing(phi(squeezed), x(squeezed, [1.0] * 12), 0, 12) == pytest.approx(
        1 / np.mean(squeezed))
    overwritten = [1.0] * 6 + [0.1] * 6             # even in time, but piled up on the page
    assert writing.pacing(phi(even), x(even, overwritten), 0, 12) == pytest.approx(
        0.1 / np.mean(overwritten[1:]))
    primed = [1] * 5 + [10] * 7                     # the primer's characters are skipped
    assert writing.pacing(phi(primed), x(primed, [0.1] * 5 + [1.0] * 7), 5, 12) == \
        pytest.approx(1.0)


def test_write_line_keeps_the_best_paced_draft(synth, monkeypatch):
    drawn = []

    def spy(*args, **kw):
        inks, phis, pen = draw(*args, **kw)
        drawn.append((inks, phis))
        return inks, phis, pen

    monkeypatch.setattr(writing, "draw", spy)
    monkeypatch.setattr(writing, "spoiled", lambda ink: False)
    line = write_line(synth, "ab ab", SampleConfig(max_points=300, seed=1, candidates=3))
    (inks, phis), = drawn                          # it finished within the first segment
    scores = [writing.pacing(phi[:len(c)], np.cumsum(c.strokes[:, 0], dtype=np.float64), 0, 5)
              for c, phi in zip(inks, phis, strict=True)]
    np.testing.assert_array_equal(line.strokes, inks[int(np.argmax(scores))].strokes)


def test_python_api_writes_and_samples_in_a_few_lines(tiny_model, synth_model):
    import handwriter

    ink, = handwriter.write("ab ab", bias=0.75, seed=2, model=synth_model)
    assert ink.text == "ab ab" and ink.meta["finished"] and len(ink) > 1
    again, = handwriter.write("ab ab", bias=0.75, seed=2, model=synth_model)
    np.testing.assert_array_equal(ink.strokes, again.strokes)
    inks = handwriter.sample_lines(n=2, seed=1, model=tiny_model)
    assert len(inks) == 2 and all(len(i) == SampleConfig().max_points for i in inks)


def test_the_api_keeps_a_persons_lines_as_a_style_and_writes_in_it(style_model, tmp_path,
                                                                    monkeypatch):
    import handwriter

    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    x = np.linspace(0, 60, 60)
    line = handwriter.Ink.from_stroke_list([np.stack([x, 10 * np.sin(x / 5)], 1)])
    with pytest.warns(UserWarning, match="line 1 has no text; the recogniser reads it as"):
        assert handwriter.add_style("read", [line], model=style_model).is_file()
    assert line.text == "" and handwriter.styles.load_style("read")[0].text  # a copy has it
    line.text = "ab"
    assert handwriter.add_style("me", [line], model=style_model).is_file()  # one line: read
    with pytest.raises(ValueError, match="replace=True replaces it"):
        handwriter.add_style("me", [line], model=style_model)
    ink, = handwriter.write("ab", style="me", model=style_model, seed=1)
    assert ink.text == "ab" and len(ink) > 1
    held, = handwriter.write("ab", style=[line], model=style_model, seed=1)  # nothing saved
    np.testing.assert_array_equal(held.strokes, ink.strokes)  # read, as the saved one was
    with pytest.raises(TypeError, match="style must be a number, a saved style's name or a "
                       "list of Inks, got float"):
        handwriter.write("ab", style=1.5, model=style_model)


def test_the_api_says_what_is_wrong_with_its_arguments(synth_model):
    import handwriter

    for text in (None, 42, ["ab"], b"ab"):
        with pytest.raises(TypeError, match="the text to write must be a str"):
            handwriter.write(text, model=synth_model)
    with pytest.raises(TypeError, match="seed must be a whole number, got 1.5"):
        handwriter.write("ab", seed=1.5, model=synth_model)
    with pytest.raises(TypeError, match="bias must be a number, got '0.5'"):
        handwriter.write("ab", bias="0.5", model=synth_model)
    assert SampleConfig(seed=np.int64(3), bias=np.float32(0.5)).seed == 3  # numpy numbers do
    with pytest.raises(ValueError, match=r"\(N, 3\) rows of \[dx, dy, pen_lift\], got an "
                       r"array of shape \(6, 2\)"):
        handwriter.Ink(np.zeros((6, 2)))
    assert handwriter.Writer.load("synthesis").alphabet  # the shipped models by name


def test_write_wraps_a_paragraph_into_lines(synth_model):
    import handwriter

    inks = handwriter.write("ab ab ab\nabc", seed=1, model=synth_model, width=5)
    assert [ink.text for ink in inks] == ["ab ab", "ab", "abc"]


def test_the_api_writes_pasted_text_and_warns_what_it_changed(synth_model):
    import handwriter

    with pytest.warns(UserWarning, match=r"wrote á as 'a', … as '\.\.\.'"):
        ink, = handwriter.write("ábc…", seed=1, model=synth_model)
    assert ink.text == "abc..."
    with pytest.warns(UserWarning, match="é as 'e'"):
        sheets = handwriter.write_pages("é", page="A6", model=synth_model)
    assert sheets[0].texts == ["e"]


def test_the_reader_reads_a_long_line_from_a_stroke_read_back_points_before_its_end():
    strokes = np.zeros((300, 3), np.float32)
    strokes[:, 0] = 0.1
    strokes[49::50, 2] = 1  # strokes of 50 points
    line = Ink(strokes, text="x" * 10)
    phi = F.one_hot(torch.arange(300) // 30, 11).float()  # 30 points a character
    assert writing.READ_BACK == 120
    assert writing.read_back(line, phi, 0) == (150, 5)  # the last stroke to start by 180
    assert writing.read_back(line, phi, 2) == (150, 3)  # two characters of primer
    assert writing.read_back(Ink(strokes[:100], text="x"), phi, 0) == (0, 0)  # short: all
    assert writing.read_back(line, None, 0) == (0, 0)  # the first segment
