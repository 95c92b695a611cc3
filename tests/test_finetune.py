import time

import numpy as np
import pytest
import torch

from handwriter.finetune import (
    FineTuneConfig,
    as_line,
    fine_tune,
    fine_tune_style,
    fit_head,
    head_inputs,
    primed_nll,
)
from handwriter.ink import Ink
from handwriter.sample import Writer
from handwriter.styles import load_style_weights, save_style


@pytest.fixture
def synth(synth_model):
    return Writer.load(synth_model)


def hand(text: str, seed: int) -> Ink:
    """One writer's line: a wave per letter, the same slant and size, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, len(text), 12 * len(text))
    points = np.stack([t + 0.3 * np.sin(2 * np.pi * t), np.sin(2 * np.pi * t)], 1) * 20
    points += rng.normal(0, 0.3, points.shape)
    strokes = np.zeros((len(points), 3), np.float32)
    strokes[:, :2] = np.diff(points, axis=0, prepend=np.zeros((1, 2)))
    strokes[::12, 2] = 1
    return Ink(strokes, text=text)


LINES = [hand("abc", 0), hand("cab ba", 1), hand("bca", 2)]


def held_back_score(writer: Writer, lines: list[Ink]) -> float:
    """The held-back line written after the first, nats per point, the long way round."""
    total, points = primed_nll(writer, [(as_line(writer, lines[0], 1),
                                         as_line(writer, lines[-1], len(lines)))])
    return total / points


@pytest.mark.parametrize("part, names", [("head", {"head.weight", "head.bias"}),
                                         ("head-bias", {"head.bias"})])
def test_fine_tuning_adapts_only_the_chosen_part_and_helps(synth, part, names):
    shipped = {k: v.clone() for k, v in synth.net.state_dict().items()}
    result = fine_tune(synth, LINES, 10, FineTuneConfig(part=part, lr=1e-2, patience=3))
    assert result.helped and result.after < result.before and result.tensors.keys() == names
    for k, v in synth.net.state_dict().items():  # the writer given is untouched
        torch.testing.assert_close(v, shipped[k], rtol=0, atol=0)
    tuned = synth.adapted(result.tensors)
    changed = {k for k, v in tuned.net.state_dict().items() if not torch.equal(v, shipped[k])}
    assert changed == names
    # the score it reports is the one the adapted writer gets with the whole network
    assert held_back_score(synth, LINES) == pytest.approx(result.before, abs=1e-4)
    assert held_back_score(tuned, LINES) == pytest.approx(result.after, abs=1e-4)
    assert "it helped" in result.summary()


def test_a_third_of_the_lines_is_held_back(synth):
    lines = LINES * 2  # six lines: the last two are held back, each written after the first
    result = fine_tune(synth, lines, 10, FineTuneConfig(lr=1e-2, patience=3))
    first = as_line(synth, lines[0], 1)
    total, points = primed_nll(synth, [(first, as_line(synth, ink, i))
                                       for i, ink in enumerate(lines[4:], 5)])
    assert result.before == pytest.approx(total / points, abs=1e-4)
    assert result.before != pytest.approx(held_back_score(synth, lines), abs=1e-3)


def test_when_nothing_helps_the_shipped_weights_are_kept(synth):
    result = fine_tune(synth, LINES, 10, FineTuneConfig(lr=100.0, check_every=1, patience=3))
    assert not result.helped and result.tensors == {} and result.after == result.before
    assert result.steps == 3  # three checks without a better score
    assert "did not help: keeping the shipped weights" in result.summary()
    assert held_back_score(synth.adapted(result.tensors), LINES) == pytest.approx(result.before)


def test_the_time_budget_is_kept(synth):
    first, held = (as_line(synth, ink, i) for i, ink in enumerate(LINES[:2], 1))
    train, held = head_inputs(synth, [(None, first)]), head_inputs(synth, [(first, held)])
    start = time.monotonic()
    result = fit_head(synth, train, held, FineTuneConfig(patience=10**6), start + 1.2, start)
    assert 1.2 <= result.seconds < 6 and result.steps > 0  # only the deadline stops it


def test_a_saved_style_keeps_its_weights_when_they_help(synth, tmp_path, monkeypatch):
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    save_style("me", LINES)
    result = fine_tune_style("me", 10, synth)
    assert result.helped and (tmp_path / "styles" / "me.pt").is_file()
    for name, tensor in load_style_weights("me").items():
        torch.testing.assert_close(tensor, result.tensors[name])


def test_bad_input_is_refused_clearly(synth):
    with pytest.raises(ValueError, match="two lines or more: one is held back"):
        fine_tune(synth, LINES[:1], 1)
    with pytest.raises(ValueError, match="line 2 needs ink .* and its transcription"):
        fine_tune(synth, [LINES[0], Ink(LINES[1].strokes, text=" ")], 1)
    with pytest.raises(ValueError, match="minutes must be above 0"):
        fine_tune(synth, LINES, 0)
    with pytest.raises(ValueError, match="part must be one of head, head-bias"):
        fine_tune(synth, LINES, 1, FineTuneConfig(part="lstm"))


def test_a_gain_too_small_to_trust_is_not_kept(synth):
    result = fine_tune(synth, LINES, 10, FineTuneConfig(lr=1e-2, patience=3, min_gain=10.0))
    assert not result.helped and result.tensors == {} and result.after < result.before
    assert "gained less than the 10 needed: keeping the shipped weights" in result.summary()


@pytest.mark.parametrize("model", ["style_model", "stats_style_model"])
def test_a_style_model_fine_tunes_its_style_vector(model, request):
    writer = Writer.load(request.getfixturevalue(model))
    shipped = {k: v.clone() for k, v in writer.style_net.state_dict().items()}
    result = fine_tune(writer, LINES, 10, FineTuneConfig(style_lr=0.1, patience=3))
    assert result.helped and result.after < result.before
    assert result.tensors.keys() == {"style"} and result.tensors["style"].shape == (4,)
    for k, v in writer.style_net.state_dict().items():  # the network itself never changes
        torch.testing.assert_close(v, shipped[k], rtol=0, atol=0)
    assert all(p.requires_grad for p in writer.style_net.parameters())
    tuned = writer.adapted(result.tensors)
    torch.testing.assert_close(tuned.style, result.tensors["style"])
    # the score it reports is the held-back line's, alone, written in the tuned style,
    # by the style network and by the network with that style folded in
    held = [(None, as_line(writer, LINES[-1], 3))]
    for scorer in (tuned, Writer(tuned.net, tuned.checkpoint)):
        total, points = primed_nll(scorer, held)
        assert total / points == pytest.approx(result.after, abs=1e-4)


@pytest.mark.parametrize("model", ["synth_model", "stats_style_model"])
def test_scoring_the_first_points_is_scoring_the_line_cut_there(model, request):
    # the network reads causally: a line's first k points score as the line cut after k
    # (a primer written first is placed by the whole line, so here only a style primer)
    writer = Writer.load(request.getfixturevalue(model))
    strokes, text = as_line(writer, LINES[1], 2)
    primer = as_line(writer, LINES[0], 1) if writer.style_net is not None else None
    for k in (5, 20):
        cut = primed_nll(writer, [(primer, (strokes[:k], text))])
        assert cut[1] == k
        assert primed_nll(writer, [(primer, (strokes, text))], first=k) == pytest.approx(
            cut, rel=1e-5)  # float32 sums over other lengths
    assert primed_nll(writer, [(primer, (strokes, text))], first=10**6) == \
        pytest.approx(primed_nll(writer, [(primer, (strokes, text))]))
