"""The character model that drafts text for `sample`, and its training."""

import csv
import math

import numpy as np
import pytest
import torch

from handwriter.cli import main
from handwriter.text_model import TextModel, TextModelConfig, TextTrainConfig, train_text_model


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


def test_interrupted_text_training_resumes_exactly(lines_npz, synth_model, resumes_exactly):
    small = TextModelConfig(embed_size=4, hidden_size=8, num_layers=1)

    def train(out, resume):
        train_text_model(TextTrainConfig(data=str(lines_npz), out=str(out), steps=6,
                                         alphabet_from=str(synth_model), batch_size=4,
                                         eval_every=2, threads=1), small, resume=resume)

    resumes_exactly(train, TextModel, "nats", counted=lambda model, texts: model.training)
