import math

import numpy as np
import pytest
import torch
from torch import Tensor

from handwriter.adapt import (
    PLAIN_PER_STEP,
    AdaptConfig,
    adapt,
    as_lines,
    primed_nll,
    with_plain_hand,
)
from handwriter.data import collate, encode_text
from handwriter.ink import Ink
from handwriter.model import mixture_nll, split_mixture
from handwriter.sample import SampleConfig, Writer, generate


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


def nll_per_point(writer: Writer, lines: list[Ink]) -> float:
    """The lines' NLL in nats per point, the long way round: the whole network in its style."""
    with torch.no_grad():
        return float(nll_in(writer, as_lines(writer, lines), writer.style))


def nll_in(writer: Writer, prepared: list[tuple], style: Tensor) -> Tensor:
    """Nats per point of lines already prepared (`as_lines`) in `style`, as a tensor."""
    batch = collate([s for s, _ in prepared], [encode_text(t, writer.alphabet)
                                               for _, t in prepared], writer.offset_scale)
    raw, _ = writer.style_net(batch.strokes_in, batch.text, batch.text_mask,
                              style=style.expand(len(prepared), -1))
    nll = mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask).sum()
    return nll / batch.mask.sum() + 2 * math.log(writer.offset_scale)


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


def test_the_plain_hand_writes_the_lines_texts_in_no_style(writer):
    lines = as_lines(writer, LINES)
    batches = with_plain_hand(writer, lines, 2)  # 3 + 2, then 3 + 1
    assert [len(b.strokes_in) for b in batches] == [5, 4]
    styled = writer.styled(writer.style_of(LINES), neat=False)
    for ours, theirs in zip(with_plain_hand(styled, lines, 2), batches, strict=True):
        torch.testing.assert_close(ours.strokes_in, theirs.strokes_in, rtol=0, atol=0)
        torch.testing.assert_close(ours.text[3:], theirs.text[3:], rtol=0, atol=0)
    torch.testing.assert_close(batches[0].text[3:], batches[0].text[:2], rtol=0, atol=0)
    fit = adapt(writer, LINES, AdaptConfig(steps=2, lr=0.01, contrast=0.5))  # both batches
    assert fit.steps == 2 and torch.isfinite(fit.fitted).all()


def test_a_contrastive_step_descends_the_lines_and_climbs_the_plain_hand(writer):
    # Adam's first step moves each number by lr against the sign of the gradient: here of
    # the lines' nats/point minus `contrast` x the first plain lines' (cut to the longest);
    # a strong contrast, so that the plain hand's part turns some of the signs
    fit = adapt(writer, LINES, AdaptConfig(steps=1, lr=0.01, share=1.0, contrast=50.0))
    lines = as_lines(writer, LINES)
    inks, _ = generate(Writer(writer.style_net, writer.checkpoint), SampleConfig(bias=0.0),
                       [text for _, text in lines])  # all together, as seed 0 draws them
    longest = max(len(strokes) for strokes, _ in lines)
    plain = [(strokes[:longest], text) for strokes, text in
             as_lines(writer, inks[:PLAIN_PER_STEP])]
    raw = fit.read.clone().requires_grad_()
    own, = torch.autograd.grad(nll_in(writer, lines, torch.tanh(raw)), raw)
    theirs, = torch.autograd.grad(nll_in(writer, plain, torch.tanh(raw)), raw)
    assert not torch.equal(torch.sign(own), torch.sign(own - 50.0 * theirs))  # it tells
    torch.testing.assert_close(fit.fitted, fit.read - 0.01 * torch.sign(own - 50.0 * theirs),
                               atol=2e-5, rtol=0)
