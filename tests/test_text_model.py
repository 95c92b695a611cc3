"""The character model that drafts text for `sample`, and its training."""

import csv
import math

import numpy as np
import pytest
import torch

from handwriter.cli import main
from handwriter.ink import InkError
from handwriter.text_model import (
    COUNT_POWER,
    LINE_END_WEIGHT,
    MIN_WORDS,
    UNSEEN_COUNT,
    TextModel,
    TextModelConfig,
    TextTrainConfig,
    Vocabulary,
    train_text_model,
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


def test_drafts_hold_to_the_word_list_and_end_on_whole_words(text_net, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("hello 5\nhelp\nab 2\nzz\n")
    text_net.vocabulary = Vocabulary.load(text_net.cfg.alphabet, words)
    first = text_net.draft(40, torch.Generator().manual_seed(3), max_chars=12)
    assert first == text_net.draft(40, torch.Generator().manual_seed(3), max_chars=12)
    tokens = [w.rstrip(".") for t in first for w in t.split(" ")]
    assert all(0 < len(t) <= 12 for t in first)
    assert set(tokens) <= {"hello", "help", "ab", "zz"} and len(set(tokens)) == 4
    with pytest.raises(ValueError, match="shortest has 2"):
        text_net.draft(1, torch.Generator(), max_chars=1)


def test_the_prior_shares_out_the_words_weights():
    the, then, u = ((c + UNSEEN_COUNT) ** COUNT_POWER for c in (8, 3, 0))
    vocabulary = Vocabulary({"the": 8, "then": 3, "a": 0, "I": 0, "in": 0},
                            "abehintI ,.")
    start = vocabulary.prior("", 10)  # a line starts: lower case or capitalised
    mass = the + then + 3 * u
    assert start == pytest.approx({"t": (the + then) / mass, "a": u / mass, "i": u / mass,
                                   "I": 2 * u / mass})  # "I" and "In"; no capital T or A here
    ended = the / (the + then)
    assert vocabulary.prior("a in the", 10) == pytest.approx(
        {"n": then / (the + then), " ": ended, ",": ended, ".": ended,
         "": ended * LINE_END_WEIGHT})
    assert MIN_WORDS == 3 and set(vocabulary.prior("in the", 10)) == {"n", " ", ",", "."}
    assert set(vocabulary.prior("in the", 1)) == {"n", "", ",", "."}  # no room for a word
    assert set(vocabulary.prior("in ", 10)) == {"t", "a", "i", "I"}  # mid-sentence: as listed
    assert set(vocabulary.prior("in. ", 10)) == {"I"}  # a sentence starts: capitals only
    assert vocabulary.prior("in.", 10) == {" ": 1.0}
    assert vocabulary.prior("a in a.", 10) == {"": LINE_END_WEIGHT, " ": 1.0}
    assert set(vocabulary.prior("a i", 10)) == {"n"}  # "I" is listed capitalised: only so
    assert set(vocabulary.prior("I", 10)) == {"n", " ", ",", "."}


def test_a_bad_word_list_names_its_line(tmp_path, text_net):
    words = tmp_path / "words.txt"
    words.write_text("hello 5\nhelp many\n")
    with pytest.raises(InkError, match=r"words\.txt:2: expected"):
        Vocabulary.load(text_net.cfg.alphabet, words)
    words.write_text("HELLO\n")
    with pytest.raises(InkError, match="no word in this list"):
        Vocabulary.load(text_net.cfg.alphabet, words)


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
    assert main(["sample", "--model", str(out / "best.pt"), "-o", str(tmp_path / "x.png")]) == 2
    assert "a text model's checkpoint (for --text-model), not a handwriting model" in \
        capsys.readouterr().err


def test_interrupted_text_training_resumes_exactly(lines_npz, synth_model, resumes_exactly):
    small = TextModelConfig(embed_size=4, hidden_size=8, num_layers=1)

    def train(out, resume):
        train_text_model(TextTrainConfig(data=str(lines_npz), out=str(out), steps=6,
                                         alphabet_from=str(synth_model), batch_size=4,
                                         eval_every=2, threads=1), small, resume=resume)

    resumes_exactly(train, TextModel, "nats", counted=lambda model, texts: model.training)
