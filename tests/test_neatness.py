import numpy as np
import pytest
import torch

from handwriter.cli import main
from handwriter.model import load_checkpoint
from handwriter.neatness import LIMIT, SENTENCES, fit_neatness, neatness_of, style_costs
from handwriter.reader import InkReader
from handwriter.sample import Writer, neaten
from handwriter.train import export_model


def test_neaten_moves_a_style_beyond_no_style_back_along_the_direction_only():
    direction = torch.tensor([2.0, 0.0, -1.0])
    beyond = torch.tensor([0.5, 0.3, -0.5])            # 1.5 along: predicted less legible
    moved = neaten(beyond, direction)
    assert float(moved @ direction) == pytest.approx(0, abs=1e-6)
    change = moved - beyond  # the least change: along the direction
    assert torch.allclose(change / change.norm(), -direction / direction.norm())
    assert moved[1] == beyond[1]                       # the rest of the hand stays
    within = torch.tensor([-0.5, 0.3, 0.2])
    assert torch.equal(neaten(within, direction), within)
    held = neaten(within, direction, limit=-1.5)       # a limit neater than no style
    assert float(held @ direction) == pytest.approx(-1.5, abs=1e-6)


def test_fitting_finds_a_planted_direction_and_says_how_well():
    rng = np.random.default_rng(0)
    styles = torch.tensor(rng.uniform(-0.8, 0.8, (200, 6)), dtype=torch.float32)
    planted = torch.tensor([1.0, 0.0, -0.5, 0.0, 0.0, 0.3])
    costs = np.exp(styles.numpy() @ planted.numpy() + 0.2 + rng.normal(0, 0.05, 200))
    direction, fit = fit_neatness(styles, costs)
    assert torch.allclose(direction, planted, atol=0.05)
    assert fit > 0.95
    _, no_fit = fit_neatness(styles, rng.uniform(1, 2, 200))  # costs unrelated to styles
    assert no_fit < 0.3


class LengthReader:
    """Reads nothing; a line costs its points per character, so a style's cost is its ink."""

    def nats_per_char(self, inks, texts):
        return np.array([len(ink) / len(text) for ink, text in zip(inks, texts, strict=True)])


def test_style_costs_are_per_style_and_repeat(table_model):
    writer = Writer.load(table_model)
    styles = torch.tanh(writer.style_net.style_encoder.table.weight.detach())
    costs = style_costs(writer, LengthReader(), styles, seeds=1)
    assert costs.shape == (4,) and (costs > 0).all() and len(set(costs)) > 1
    assert np.array_equal(costs, style_costs(writer, LengthReader(), styles, seeds=1))
    assert all(text in writer.alphabet for text in "".join(SENTENCES))


def test_exported_neatness_is_used_when_writing_in_a_style(table_model, tmp_path, monkeypatch,
                                                           capsys):
    monkeypatch.setattr(InkReader, "load", lambda path=None: LengthReader())
    out = tmp_path / "neat.pt"
    assert main(["export", str(table_model), "-o", str(out), "--neatness"]) == 0
    assert "training writers' styles at r =" in capsys.readouterr().out
    stored = load_checkpoint(out)["neatness"]
    assert stored["styles"] == 4 and stored["direction"].shape == (4,)
    assert stored["limit"] == LIMIT < 0
    writer = Writer.load(out)
    direction = stored["direction"]
    beyond = direction / direction.norm() * 0.5
    assert float(writer.styled(beyond).style @ direction) == pytest.approx(LIMIT, abs=1e-5)
    assert torch.equal(writer.styled(beyond, neat=False).style, beyond)
    within = -direction * (1 - LIMIT) / (direction @ direction)  # projection LIMIT - 1
    assert torch.equal(writer.styled(within).style, within)
    # a model that never measured it writes every style as given
    assert torch.equal(Writer.load(table_model).styled(beyond).style, beyond)
    export_model(out, tmp_path / "again.pt")  # exporting again keeps it
    assert torch.equal(load_checkpoint(tmp_path / "again.pt")["neatness"]["direction"],
                       direction)


def test_neatness_needs_learnt_styles(synth_model):
    with pytest.raises(ValueError, match="--writer-styles"):
        neatness_of(Writer.load(synth_model), LengthReader())
