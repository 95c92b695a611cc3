"""The character model that drafts text for `sample`, and the two-step sampling it drives."""

import csv
import math

import numpy as np
import pytest
import torch

from handwriter.cli import main
from handwriter.ink import read_ink, read_lines
from handwriter.sample import SampleConfig, Writer
from handwriter.text_model import (
    TextModel,
    TextModelConfig,
    TextTrainConfig,
    train_text_model,
    write_from_nothing,
)


def test_a_uniform_model_costs_log_vocabulary_per_character_and_end(text_net):
    net = text_net
    torch.nn.init.zeros_(net.out.weight)
    torch.nn.init.zeros_(net.out.bias)
    texts = ["hello world", "ab", "z"]
    expected = [(len(t) + 1) * math.log(len(net.cfg.alphabet) + 1) for t in texts]
    np.testing.assert_allclose(net.nats(texts).detach().numpy(), expected, rtol=1e-6)


def test_nats_of_a_padded_batch_match_stepping_one_character_at_a_time(text_net):
    net = text_net
    texts = ["a longer line.", "ab", "b a"]
    batched = net.nats(texts).detach().numpy()
    for text, nats in zip(texts, batched, strict=True):
        codes = [0] + [net.cfg.alphabet.index(c) + 1 for c in text] + [0]
        state, total = None, 0.0
        with torch.no_grad():
            for now, after in zip(codes[:-1], codes[1:], strict=True):
                log_probs, state = net(torch.tensor([[now]]), state)
                total -= float(log_probs[0, 0, after])
        assert nats == pytest.approx(total, rel=1e-5)


def test_drafts_are_seeded_and_use_only_the_alphabet(text_net):
    net = text_net
    first = net.draft(6, torch.Generator().manual_seed(3), max_chars=20)
    again = net.draft(6, torch.Generator().manual_seed(3), max_chars=20)
    other = net.draft(6, torch.Generator().manual_seed(4), max_chars=20)
    assert first == again and first != other
    assert all(0 < len(t) <= 20 and set(t) <= set(net.cfg.alphabet) and t == t.strip()
               for t in first)


def test_training_learns_the_lines_and_resumes(lines_npz, synth_model, tmp_path, capsys):
    out = tmp_path / "text"
    flags = ["--data", lines_npz, "--out", out, "--alphabet-from", synth_model, "--lr", "0.02",
             "--eval-every", "20", "--hidden", "16", "--batch-size", "8"]
    assert main(["train-text", *map(str, flags), "--steps", "40"]) == 0
    assert main(["train-text", *map(str, flags), "--steps", "60", "--resume"]) == 0
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [20, 40, 60]
    # the training lines are "ab ab" and "hello": far below a uniform guess
    net = TextModel.load(out / "best.pt")
    assert float(rows[-1]["train_nats_per_char"]) < 0.5 * math.log(len(net.cfg.alphabet) + 1)
    assert net.nats(["hello"]) < net.nats(["lhelo"])
    capsys.readouterr()


def test_sample_writes_drafted_text_with_a_synthesis_model(synth_model, text_model,
                                                           tmp_path, capsys):
    paths = [tmp_path / f"{k}.inkml" for k in "aab"]
    for path, seed in zip(paths, [1, 1, 2], strict=True):
        assert main(["sample", "-o", str(path), "--model", str(synth_model), "--text-model",
                     str(text_model), "--n", "3", "--max-points", "60",
                     "--seed", str(seed)]) == 0
    first, again, other = (read_ink(p) for p in paths)
    assert len(first) == 3 and all(ink.text and len(ink.text) <= 6 for ink in first)
    assert [i.text for i in first] == [i.text for i in again]
    assert all(np.array_equal(a.strokes, b.strokes) for a, b in zip(first, again, strict=True))
    assert [i.text for i in first] != [i.text for i in other]
    picked = tmp_path / "picked.inkml"  # drafts picked by the shipped reader, as `write` does
    assert main(["sample", "-o", str(picked), "--model", str(synth_model), "--text-model",
                 str(text_model), "--n", "3", "--max-points", "60", "--seed", "1",
                 "--candidates", "2"]) == 0
    assert [i.text for i in read_ink(picked)] == [i.text for i in first]
    capsys.readouterr()


def test_a_primer_needs_a_style_input(synth_model, style_model, lines_npz, text_net):
    text_model, primer = text_net, read_lines(lines_npz)[0]
    with pytest.raises(ValueError, match="style input"):
        write_from_nothing(Writer.load(synth_model), text_model, SampleConfig(max_points=30),
                           primer)
    plain, primed = (write_from_nothing(Writer.load(style_model), text_model,
                                        SampleConfig(n=2, max_points=30), p)
                     for p in (None, primer))
    assert [i.text for i in plain] == [i.text for i in primed]  # one draw of text for both
    assert not np.array_equal(plain[0].strokes, primed[0].strokes)
    with pytest.raises(ValueError, match="at least 1"):
        write_from_nothing(Writer.load(style_model), text_model, SampleConfig(n=0))


def test_interrupted_text_training_resumes_exactly(lines_npz, synth_model, resumes_exactly):
    small = TextModelConfig(embed_size=4, hidden_size=8, num_layers=1)

    def train(out, resume):
        train_text_model(TextTrainConfig(data=str(lines_npz), out=str(out), steps=6,
                                         alphabet_from=str(synth_model), batch_size=4,
                                         eval_every=2, threads=1), small, resume=resume)

    resumes_exactly(train, TextModel, "nats", counted=lambda model, texts: model.training)
