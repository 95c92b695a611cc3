import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handwriter.data import START, collate, encode_text, prepare
from handwriter.ink import Ink, read_lines
from handwriter.model import sample_point, split_mixture
from handwriter.sample import (
    LinePen,
    SampleConfig,
    Writer,
    blas,
    blas_threads,
    draw_batch,
    draw_line,
    encode_texts,
    generate,
    start_pen,
)


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


# An int8 pen: fbgemm rounds each product's input to 7 bits of its range (here about 2.5:
# steps of 0.02) and each weight to 8 bits of its row's largest; over the ~40 inputs of these
# 16-unit layers (weights of init scale, 1/4) the errors add to a few 1e-3 (measured: 2e-3 on
# raw, 3e-3 on h). 0.02 leaves room; a wrong weight or gate order misses by 0.1 or more.
@pytest.mark.parametrize("model", ["writer", "synth"])
@pytest.mark.parametrize("int8, tolerance", [(False, 1e-5), (True, 0.02)], ids=["fp32", "int8"])
def test_a_line_pen_steps_as_the_batch_sampler_does(model, int8, tolerance, request):
    w = request.getfixturevalue(model)
    strokes = torch.randn(8, 1, 3, generator=torch.Generator().manual_seed(2))
    strokes[..., 2] = (strokes[..., 2] > 0).float()
    chars = None
    if w.net.text_size:
        text = torch.from_numpy(encode_text("ab cd", w.alphabet))[None]
        chars = F.one_hot(text, w.net.text_size).float()
    state = w.net.initial_state(1)
    pen = LinePen(w.int8_sampler if int8 else w.sampler, state)
    worst = 0.0
    for t in range(8):
        raw, state, phi = w.sampler.step(strokes[t], state, chars, torch.ones(1, 5))
        line_raw, line_phi = pen.step(strokes[t, 0].numpy(), None if chars is None else chars[0])
        np.testing.assert_allclose(line_raw, raw[0].numpy(), rtol=tolerance, atol=tolerance)
        worst = max(worst, np.abs(line_raw - raw[0].numpy()).max())
        if phi is not None:
            np.testing.assert_allclose(line_phi, phi[0].numpy(), rtol=tolerance, atol=tolerance)
    for a, b in zip(pen.state(), state, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=tolerance, atol=tolerance)
    assert (worst > 1e-4) == int8  # int8 products really were int8 (errors ~2e-3)


@pytest.mark.parametrize("model", ["writer", "synth"])
@pytest.mark.parametrize("bias", [0.5, 3.0])  # below and above WEIGHT_BIAS_MAX
def test_one_line_draws_the_ink_the_batch_loop_draws_for_its_seed(model, bias, request):
    w = request.getfixturevalue(model)
    texts = ["ab cd"] if w.net.text_size else None
    codes = chars = mask = ends = None
    if texts:
        codes, mask, ends = encode_texts(w, texts)
        chars = F.one_hot(codes, w.net.text_size).float()
    cfg = SampleConfig(max_points=80, bias=bias)
    drawn = []
    for loop in (draw_line, draw_batch):
        with torch.inference_mode():
            drawn.append(loop(w.sampler, cfg, start_pen(w, 1, codes, mask), chars, mask, ends,
                              torch.Generator().manual_seed(5)))
    (line,), finished, phis, pen = drawn[0]
    (batch_line,), batch_finished, batch_phis, batch_pen = drawn[1]
    assert len(line) > 5 and finished == batch_finished
    np.testing.assert_allclose(line, batch_line, atol=1e-4)
    np.testing.assert_array_equal(line[:, 2], batch_line[:, 2])
    torch.testing.assert_close(pen.state.h, batch_pen.state.h, rtol=1e-4, atol=1e-4)
    if texts:
        torch.testing.assert_close(phis[0], batch_phis[0], rtol=1e-4, atol=1e-4)


def test_numpy_blas_runs_on_the_threads_it_is_given_and_is_restored():
    def threads():
        return [lib["num_threads"] for lib in blas().info() if lib["user_api"] == "blas"]

    before = threads()
    assert before, "numpy's BLAS library was not found: LinePen's products run unlimited"
    with blas_threads(1):
        assert threads() == [1] * len(before)
    assert threads() == before


def test_an_int8_draw_is_the_same_for_one_seed(writer):
    cfg = SampleConfig(seed=3, max_points=40, int8=True)
    first, again = (generate(writer, cfg)[0][0].strokes for _ in range(2))
    np.testing.assert_array_equal(first, again)
    fp32 = generate(writer, SampleConfig(seed=3, max_points=40))[0][0].strokes
    assert not np.array_equal(first, fp32)


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
    with pytest.raises(ValueError, match="temperature must be above 0"):
        SampleConfig(temperature=0.0)
    with pytest.raises(ValueError, match="max points must be at least 1"):
        SampleConfig(max_points=0)


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
    with pytest.raises(ValueError, match=r"cannot write '!' \(U\+0021\), 'B' \(U\+0042\); "
                       "leave them out"):  # named, not a dump of the alphabet
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


def test_model_output_primes_at_its_own_scale(writer):
    ink = generate(writer, SampleConfig(n=1, max_points=30))[0][0]
    primed = writer.prime_strokes(ink).numpy()
    np.testing.assert_allclose(primed[:, :2] * writer.offset_scale, ink.strokes[:, :2], rtol=1e-6)
    big = Ink(ink.strokes * [10, 10, 1])  # foreign ink is measured and scaled as in training
    np.testing.assert_allclose(writer.prime_strokes(big), writer.prime_strokes(Ink(ink.strokes)),
                               rtol=1e-4, atol=1e-5)


def test_a_stopped_line_is_no_longer_stepped_and_keeps_its_pen(synth, monkeypatch):
    texts = ["ab", "hello world"]
    codes, mask, ends = encode_texts(synth, texts)
    chars = F.one_hot(codes, synth.net.text_size).float()
    rows, states = [], []
    step = synth.sampler.step

    def counted(point, state, *args):
        out = step(point, state, *args)
        rows.append(len(point))
        states.append(out[1])
        return out

    monkeypatch.setattr(synth.sampler, "step", counted)
    with torch.inference_mode():
        strokes, finished, phis, pen = draw_batch(
            synth.sampler, SampleConfig(max_points=500), start_pen(synth, 2, codes, mask),
            chars, mask, ends, torch.Generator().manual_seed(0))
    short, long = map(len, strokes)
    assert finished == [True, True] and short < long
    assert rows == [2] * short + [1] * (long - short)  # the short line left the batch
    assert [len(phi) for phi in phis] == [short, long]
    torch.testing.assert_close(pen.state.h[:, 0], states[short - 1].h[:, 0])  # as it stopped
    torch.testing.assert_close(pen.state.h[:, 1], states[-1].h[:, 0])
