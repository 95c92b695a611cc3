import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handwriter import sample
from handwriter.data import START, collate, encode_text, prepare
from handwriter.ink import Ink, read_lines
from handwriter.model import sample_point, split_mixture
from handwriter.sample import SampleConfig, Writer, draw, generate, write_line, write_page


@pytest.fixture(scope="module")
def writer(tiny_model):
    return Writer.load(tiny_model)


@pytest.fixture(scope="module")
def synth(synth_model):
    return Writer.load(synth_model)


@pytest.fixture(scope="module")
def lines(lines_npz):
    return read_lines(lines_npz)


def strokes_of(inks):
    return [ink.strokes for ink in inks]


def spread(writer, **kw) -> float:
    """Std of dx, dy across 64 lines at each step, averaged: how far samples stray."""
    inks, _ = generate(writer, SampleConfig(n=64, max_points=30, **kw))
    strokes = np.stack(strokes_of(inks))            # (64, 30, 3)
    return float(strokes[:, :, :2].std(0).mean())


# ---------------------------------------------------------------- the step-by-step sampler


@pytest.mark.parametrize("model", ["writer", "synth"])
def test_sampler_step_matches_forward(model, request):
    w = request.getfixturevalue(model)
    strokes = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(1))
    strokes[..., 2] = (strokes[..., 2] > 0).float()
    chars = text = text_mask = None
    if w.net.text_size:
        text = torch.from_numpy(np.stack([encode_text("ab cd", w.alphabet),
                                          encode_text("xyz..", w.alphabet)]))
        text_mask = torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2])
        chars = F.one_hot(text, w.net.text_size).float()
    with torch.no_grad():
        raw, _, phi = w.net(strokes, text, text_mask, return_phi=True)
    state = w.net.initial_state(2)
    for t in range(6):
        step_raw, state, step_phi = w.sampler.step(strokes[:, t], state, chars, text_mask)
        torch.testing.assert_close(step_raw, raw[:, t], atol=1e-5, rtol=1e-5)
        if phi is not None:
            torch.testing.assert_close(step_phi, phi[:, t], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- seeds, bias, temperature


def test_same_seed_same_ink_whatever_the_global_rng(writer):
    cfg = SampleConfig(n=2, seed=7, max_points=40)
    torch.manual_seed(1)
    first, _ = generate(writer, cfg)
    torch.manual_seed(2)
    again, _ = generate(writer, cfg)
    for a, b in zip(strokes_of(first), strokes_of(again), strict=True):
        np.testing.assert_array_equal(a, b)
    other, _ = generate(writer, SampleConfig(n=2, seed=8, max_points=40))
    assert not np.array_equal(first[0].strokes, other[0].strokes)
    assert [len(i) for i in first] == [40, 40] and all(i.meta["finished"] for i in first)
    assert all(i.strokes[-1, 2] == 1 for i in first)  # every line ends with the pen lifted


def test_bias_and_temperature_narrow_the_spread(writer):
    unbiased = spread(writer)
    assert spread(writer, bias=3.0) < 0.3 * unbiased
    assert spread(writer, temperature=0.2) < 0.7 * unbiased
    with pytest.raises(ValueError, match="temperature"):
        generate(writer, SampleConfig(temperature=0.0))
    with pytest.raises(ValueError, match="max_points"):
        generate(writer, SampleConfig(max_points=0))


# ---------------------------------------------------------------- text


def test_stop_rule_ends_short_text_long_before_the_cap(synth):
    texts = ["ab ab", "hello world"]
    inks, phis = generate(synth, SampleConfig(max_points=500), texts)
    assert [ink.text for ink in inks] == texts
    for ink, phi, text in zip(inks, phis, texts, strict=True):
        assert ink.meta["finished"]
        assert len(ink) < 100
        # Graves' rule, exactly: the first step at which "past the end" outweighs every character
        past_end = phi[:, len(text)] > phi[:, :len(text)].max(1).values
        assert past_end[len(ink) - 1] and not past_end[:len(ink) - 1].any()
    assert len(inks[0]) < len(inks[1])  # the longer text takes longer


def test_text_errors_are_clear(synth, writer):
    with pytest.raises(ValueError, match=r"'!B'.*'abcdefghijklmnopqrstuvwxyz \.'"):
        generate(synth, SampleConfig(), ["aB!"])
    with pytest.raises(ValueError, match="needs the text"):
        generate(synth, SampleConfig())
    with pytest.raises(ValueError, match="empty"):
        generate(synth, SampleConfig(), [""])
    with pytest.raises(ValueError, match="unconditional"):
        generate(writer, SampleConfig(), ["ab"])


# ---------------------------------------------------------------- priming


def test_prime_strokes_are_in_training_units(writer, lines):
    ink, scale = lines[0], writer.offset_scale
    expected = collate([prepare(ink, 0.2, 8.0)], offset_scale=scale).strokes_out[0]
    torch.testing.assert_close(writer.prime_strokes(ink), expected)
    # the preprocessing comes from the checkpoint's training config
    raw = Writer(writer.net, {**writer.checkpoint, "train_config": {"resample_step": 0.0}})
    expected = collate([prepare(ink, 0.0, 8.0)], offset_scale=scale).strokes_out[0]
    torch.testing.assert_close(raw.prime_strokes(ink), expected)
    with pytest.raises(ValueError, match="no usable ink"):
        writer.prime_strokes(Ink(np.zeros((3, 3))))


def test_primed_ink_continues_from_the_primer(writer, lines):
    primer = lines[1]
    cfg = SampleConfig(max_points=1, seed=3)
    ink = generate(writer, cfg, primer=primer)[0][0]
    # the first point is drawn from the network's prediction after the whole primer
    inputs = torch.cat([torch.from_numpy(START), writer.prime_strokes(primer)])[None]
    with torch.no_grad():
        raw, _ = writer.net(inputs)
    expected = sample_point(split_mixture(raw[:, -1]), torch.Generator().manual_seed(3))
    np.testing.assert_allclose(ink.strokes[0, :2], expected[0, :2] * writer.offset_scale, rtol=1e-5)

    cfg = SampleConfig(max_points=20, seed=3)
    plain = generate(writer, cfg)[0][0].strokes
    one = generate(writer, cfg, primer=primer)[0][0].strokes
    other = generate(writer, cfg, primer=lines[2])[0][0].strokes
    assert len(one) == 20  # only the new ink comes back
    assert not np.allclose(one[0], plain[0]) and not np.allclose(one[0], other[0])


def test_primed_synthesis_writes_only_the_new_text(synth, lines):
    inks, _ = generate(synth, SampleConfig(max_points=200), ["ab"], primer=lines[0],
                       primer_text=lines[0].text + " ")
    assert len(inks) == 1 and inks[0].text == "ab" and 0 < len(inks[0]) < 200


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


def test_write_line_carries_on_from_its_pen_exactly(synth, monkeypatch):
    """With one candidate, growing a line segment by segment is plain sampling."""
    monkeypatch.setattr(sample, "spoiled", lambda ink: False)  # random weights scribble
    cfg = SampleConfig(max_points=40, seed=3, segment=7)
    for text in ("ab", "abcdefghijklmnopqrstuvwxyz"):
        grown = write_line(synth, text, cfg, generator=torch.Generator().manual_seed(3),
                           retries=0)
        plain, _ = generate(synth, cfg, [text])
        np.testing.assert_array_equal(grown.strokes, plain[0].strokes)
        assert grown.meta["finished"] == plain[0].meta["finished"]
    assert not grown.meta["finished"] and len(grown) == 40  # the long line hit the cap


def test_a_line_that_never_finishes_is_started_again(synth, monkeypatch):
    calls = []

    def spy(*args, **kw):
        calls.append(kw.get("pen", args[6] if len(args) > 6 else None) is None)
        return draw(*args, **kw)

    monkeypatch.setattr(sample, "draw", spy)
    monkeypatch.setattr(sample, "spoiled", lambda ink: False)
    cfg = SampleConfig(max_points=20, segment=8, candidates=2)
    line = write_line(synth, "abcdefghijklmnopqrstuvwxyz", cfg, retries=2)
    # three attempts of three segments (8 + 8 + 4 points), each attempt from a fresh pen
    assert calls == [True, False, False] * 3
    assert len(line) == 20 and not line.meta["finished"]
    calls.clear()
    assert write_line(synth, "ab", cfg, retries=2).meta["finished"] and calls == [True]


def test_a_segment_with_only_spoiled_drafts_is_drawn_again_then_kept(synth, monkeypatch):
    calls = []

    def spy(*args, **kw):
        calls.append(args[2])
        return draw(*args, **kw)

    monkeypatch.setattr(sample, "draw", spy)
    monkeypatch.setattr(sample, "spoiled", lambda ink: True)
    text = "abcdefghijklmnopqrstuvwxyz"
    line = write_line(synth, text, SampleConfig(max_points=20, candidates=3), retries=2)
    # each of the 3 attempts at the (unfinishable) line redraws its segment twice
    assert calls == [[text] * 3] * 9 and len(line) == 20 and not line.meta["finished"]


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
    assert not sample.spoiled(ink(wave, wave))  # the 6-height pen-up move is a gap, fine
    assert sample.spoiled(ink(wave, np.r_[wave, straight]))
    assert not sample.spoiled(ink(wave, straight[:20], straight[:20]))


def test_a_zigzag_scribble_in_place_spoils_a_draft():
    t = np.arange(40)
    zigzag = np.stack([np.full(40, 0.05), np.where(t % 2, 1.0, -1.0), np.zeros(40)], 1)
    zigzag[-1, 2] = 1
    assert sample.spoiled(Ink(zigzag.astype(np.float32)))
    calm = zigzag * [4, 0.25, 1]                     # the same strokes, spread out and flat
    assert not sample.spoiled(Ink(calm.astype(np.float32)))


def test_pacing_is_one_for_even_writing_and_low_for_squeezed_or_overwritten_words():
    def phi(dwell):  # one-hot window weights: each character attended for `dwell` points
        focus = np.repeat(np.arange(len(dwell)), dwell)
        return F.one_hot(torch.from_numpy(focus), len(dwell) + 1).float()

    def x(dwell, advance):  # the pen is `advance` further right on each next character
        return np.repeat(np.cumsum(advance), dwell)

    even = [10] * 12
    assert sample.pacing(phi(even), x(even, [1.0] * 12), 0, 12) == pytest.approx(1.0)
    squeezed = [10] * 7 + [1] * 5
    assert sample.pacing(phi(squeezed), x(squeezed, [1.0] * 12), 0, 12) == pytest.approx(
        1 / np.mean(squeezed))
    overwritten = [1.0] * 6 + [0.1] * 6             # even in time, but piled up on the page
    assert sample.pacing(phi(even), x(even, overwritten), 0, 12) == pytest.approx(
        0.1 / np.mean(overwritten[1:]))
    primed = [1] * 5 + [10] * 7                     # the primer's characters are skipped
    assert sample.pacing(phi(primed), x(primed, [0.1] * 5 + [1.0] * 7), 5, 12) == \
        pytest.approx(1.0)


def test_write_line_keeps_the_best_paced_draft(synth, monkeypatch):
    drawn = []

    def spy(*args, **kw):
        inks, phis, pen = draw(*args, **kw)
        drawn.append((inks, phis))
        return inks, phis, pen

    monkeypatch.setattr(sample, "draw", spy)
    monkeypatch.setattr(sample, "spoiled", lambda ink: False)
    line = write_line(synth, "ab ab", SampleConfig(max_points=300, seed=1, candidates=3))
    (inks, phis), = drawn                          # it finished within the first segment
    scores = [sample.pacing(phi[:len(c)], np.cumsum(c.strokes[:, 0], dtype=np.float64), 0, 5)
              for c, phi in zip(inks, phis, strict=True)]
    np.testing.assert_array_equal(line.strokes, inks[int(np.argmax(scores))].strokes)


def test_python_api_writes_and_samples_in_a_few_lines(tiny_model, synth_model):
    import handwriter

    ink = handwriter.write("ab ab", bias=0.75, seed=2, model=synth_model)
    assert ink.text == "ab ab" and ink.meta["finished"] and len(ink) > 1
    again = handwriter.write("ab ab", bias=0.75, seed=2, model=synth_model)
    np.testing.assert_array_equal(ink.strokes, again.strokes)
    assert ink.to_svg().count("<path") + ink.to_svg().count("<circle") >= 1
    inks = handwriter.sample_lines(n=2, seed=1, model=tiny_model)
    assert len(inks) == 2 and all(len(i) == SampleConfig().max_points for i in inks)


def test_model_output_primes_at_its_own_scale(writer):
    ink = generate(writer, SampleConfig(n=1, max_points=30))[0][0]
    primed = writer.prime_strokes(ink).numpy()
    np.testing.assert_allclose(primed[:, :2] * writer.offset_scale, ink.strokes[:, :2], rtol=1e-6)
    big = Ink(ink.strokes * [10, 10, 1])  # foreign ink is measured and scaled as in training
    np.testing.assert_allclose(writer.prime_strokes(big), writer.prime_strokes(Ink(ink.strokes)),
                               rtol=1e-4, atol=1e-5)
