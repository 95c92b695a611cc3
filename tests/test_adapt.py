import math

import numpy as np
import pytest
import torch

from handwriter.adapt import AdaptConfig, adapt, as_lines, primed_nll
from handwriter.data import collate, encode_text
from handwriter.ink import Ink
from handwriter.model import mixture_nll, split_mixture
from handwriter.sample import Writer


def hand(text: str, seed: int) -> Ink:
    """One writer's line: a slanted wave per letter, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, len(text), 12 * len(text))
    points = np.stack([t + 0.3 * np.sin(2 * np.pi * t), np.sin(2 * np.pi * t)], 1) * 20
    points += rng.normal(0, 0.3, points.shape)
    strokes = np.zeros((len(points), 3), np.float32)
    strokes[:, :2] = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    strokes[::12, 2] = 1
    return Ink(strokes, text=text)


LINES = [hand("abc", 0), hand("cab ba", 1), hand("bca", 2)]


@pytest.fixture(params=["stats_style_model", "style_model"])
def writer(request):
    return Writer.load(request.getfixturevalue(request.param))


@torch.no_grad()
def nll_per_point(writer: Writer, lines: list[Ink]) -> float:
    """The lines' NLL in nats per point, the long way round: the whole network in its style."""
    prepared = as_lines(writer, lines)
    batch = collate([s for s, _ in prepared], [encode_text(t, writer.alphabet)
                                               for _, t in prepared], writer.offset_scale)
    style = writer.style.expand(len(lines), -1)
    raw, _ = writer.style_net(batch.strokes_in, batch.text, batch.text_mask, style=style)
    nll = mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask).sum()
    return float(nll / batch.mask.sum()) + 2 * math.log(writer.offset_scale)


def test_adapting_fits_the_style_to_the_lines_and_touches_no_weight(writer):
    shipped = {k: v.clone() for k, v in writer.style_net.state_dict().items()}
    result = adapt(writer, LINES, AdaptConfig(steps=15, lr=0.1))
    assert result.steps == 15 and result.after < result.before
    for k, v in writer.style_net.state_dict().items():
        torch.testing.assert_close(v, shipped[k], rtol=0, atol=0)
    assert all(p.requires_grad for p in writer.style_net.parameters())  # left trainable
    # the scores it reports are what the network gives in the read and the fitted style
    read = writer.styled(writer.style_of(LINES))
    assert nll_per_point(read, LINES) == pytest.approx(result.before, abs=1e-4)
    fitted = writer.styled(result.style)
    assert nll_per_point(fitted, LINES) == pytest.approx(result.after, abs=1e-4)
    assert result.style.abs().max() < 1  # a style as tanh gives it


def test_adapting_stops_at_its_time_and_reports_progress(writer):
    shares = []
    result = adapt(writer, LINES, AdaptConfig(steps=10_000, minutes=1e-4), shares.append)
    assert 1 <= result.steps < 10_000 and shares[-1] >= 1  # time was the limit
    assert shares == sorted(shares)


def test_no_step_is_begun_that_would_end_past_the_time(writer, monkeypatch):
    clock = [0.0]  # seconds, moved on only by the network: each pass takes 2
    forward = writer.style_net.forward

    def slow(*args, **kwargs):
        clock[0] += 2.0
        return forward(*args, **kwargs)

    monkeypatch.setattr("handwriter.adapt.time.monotonic", lambda: clock[0])
    monkeypatch.setattr(writer.style_net, "forward", slow)
    shares = []
    result = adapt(writer, LINES, AdaptConfig(steps=100, minutes=7 / 60), shares.append)
    assert result.steps == 3 and shares[-1] == 1  # a fourth would end at 8 s
    assert "(3 of 100 steps: its time ran out)" in result.summary()


def test_adapting_refuses_what_it_cannot_use(writer, synth_model):
    with pytest.raises(ValueError, match="line 2 needs ink"):
        adapt(writer, [LINES[0], Ink(LINES[1].strokes, text=" ")])
    with pytest.raises(ValueError, match="steps and time"):
        adapt(writer, LINES, AdaptConfig(minutes=0))
    with pytest.raises(ValueError, match="style input"):
        adapt(Writer.load(synth_model), LINES)


@pytest.mark.parametrize("model", ["synth_model", "stats_style_model"])
def test_scoring_the_first_points_is_scoring_the_line_cut_there(model, request):
    # the network reads causally: a line's first k points score as the line cut after k
    # (a primer written first is placed by the whole line, so here only a style primer)
    writer = Writer.load(request.getfixturevalue(model))
    (strokes, text), = as_lines(writer, LINES[1:2])
    primer = as_lines(writer, LINES[:1])[0] if writer.style_net is not None else None
    for k in (5, 20):
        cut = primed_nll(writer, [(primer, (strokes[:k], text))])
        assert cut[1] == k
        assert primed_nll(writer, [(primer, (strokes, text))], first=k) == pytest.approx(
            cut, rel=1e-5)  # float32 sums over other lengths
    assert primed_nll(writer, [(primer, (strokes, text))], first=10**6) == \
        pytest.approx(primed_nll(writer, [(primer, (strokes, text))]))


def test_a_share_of_the_way_lies_between_the_read_style_and_the_fitted_one(writer):
    read = torch.atanh(writer.style_of(LINES))
    fitted = torch.atanh(adapt(writer, LINES, AdaptConfig(steps=10, lr=0.1, share=1.0)).style)
    half = adapt(writer, LINES, AdaptConfig(steps=10, lr=0.1, share=0.5))
    torch.testing.assert_close(torch.atanh(half.style), (read + fitted) / 2, atol=1e-4, rtol=0)
    assert nll_per_point(writer.styled(half.style), LINES) == pytest.approx(half.after, abs=1e-4)
    # any other share from the same fit, without adapting again
    torch.testing.assert_close(half.at(0.5), half.style, atol=0, rtol=0)
    torch.testing.assert_close(torch.atanh(half.at(1.0)), fitted, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.atanh(half.at(0.0)), read, atol=1e-4, rtol=0)


def test_the_fit_runs_on_one_thread_and_gives_the_others_back(writer, monkeypatch):
    seen, forward = [], writer.style_net.forward

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(*args, **kwargs)

    monkeypatch.setattr(writer.style_net, "forward", counting)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        adapt(writer, LINES, AdaptConfig(steps=2))
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
