"""The character model that drafts text for `sample`, and its training."""

import csv
import math
import re
import string

import numpy as np
import pytest
import torch

from handwriter import text_model
from handwriter.cli import main
from handwriter.ink import InkError
from handwriter.text_model import (
    COPY_TRIES,
    COUNT_POWER,
    UNSEEN_COUNT,
    TextModel,
    TextModelConfig,
    TextTrainConfig,
    Vocabulary,
    digest,
    form_of,
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


def test_a_form_keeps_where_words_of_which_length_and_case_digits_and_marks_fall():
    assert form_of("Hi, I'm 42") == "Aa, Aaa 99"
    assert form_of("THE QUICK brown fox.") == "AAA AAAAA aaaaa aaa."
    assert form_of("A 3rd McDonald's") == "A 9aa Aaaaaaaaaa"  # one capital; "'s" in its word


def test_drafts_take_training_lines_forms_and_the_word_lists_words(tmp_path, monkeypatch):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = TextModel(TextModelConfig(alphabet=string.ascii_letters + string.digits + " .,",
                                        embed_size=4, hidden_size=8)).eval()
    words = tmp_path / "words.txt"
    words.write_text("hello 5\nhelp\nab 2\nzz\nI\n")
    net.vocabulary = Vocabulary.load(net.cfg.alphabet, words)
    forms = ("Aaaaa, aa 99.", "aaaa aaaaa aa", "aaaaaaa", "99 99", "A aaaa", "a-aa")
    monkeypatch.setattr(text_model, "training_lines", lambda: (forms, frozenset()))
    first = net.draft(60, torch.Generator().manual_seed(3), max_chars=13)
    assert first == net.draft(60, torch.Generator().manual_seed(3), max_chars=13)
    # not "aaaaaaa" (no word of 7 letters), "99 99" (no word) or "a-aa" (no "-" to write)
    assert {form_of(t) for t in first} == {"Aaaaa, aa 99.", "aaaa aaaaa aa", "A aaaa"}
    tokens = {w for t in first for w in re.findall(r"[A-Za-z]+", t)}
    assert tokens == {"Hello", "ab", "zz", "help", "hello", "I"}  # "I" listed so, fills "A"
    assert {form_of(t) for t in net.draft(20, torch.Generator(), max_chars=6)} == {"A aaaa"}
    with pytest.raises(ValueError, match="no training line's form fits in 5 characters"):
        net.draft(1, torch.Generator(), max_chars=5)
    net.vocabulary = Vocabulary({"abc": 1}, net.cfg.alphabet)
    with pytest.raises(ValueError, match="words of more lengths"):
        net.draft(1, torch.Generator())


def test_a_draft_that_is_a_training_line_is_drafted_again(text_net, tmp_path, monkeypatch):
    words = tmp_path / "words.txt"
    words.write_text("hello\n")
    text_net.vocabulary = Vocabulary.load(text_net.cfg.alphabet, words)
    known = frozenset({digest("hello")})
    monkeypatch.setattr(text_model, "training_lines", lambda: (("aaaaa", "aaaaa aaaaa"), known))
    assert text_net.draft(20, torch.Generator().manual_seed(0)) == ["hello hello"] * 20
    with pytest.raises(ValueError, match=f"{COPY_TRIES} drafts of 5 characters"):
        text_net.draft(1, torch.Generator(), max_chars=5)


def test_a_slot_shares_out_the_weights_of_the_words_that_fill_it():
    the, then, u = ((c + UNSEEN_COUNT) ** COUNT_POWER for c in (8, 3, 0))
    vocabulary = Vocabulary({"the": 8, "then": 3, "tea": 0, "a": 0, "I": 0, "in": 0},
                            "aehintTHEAI ,.")
    assert vocabulary.letters("aaa", "") == pytest.approx({"t": the + u})
    assert vocabulary.letters("aaa", "t") == pytest.approx({"h": the, "e": u})
    assert vocabulary.letters("Aaaa", "") == pytest.approx({"T": then})
    assert vocabulary.letters("AAA", "TH") == pytest.approx({"E": the})
    assert vocabulary.letters("a", "") == pytest.approx({"a": u, "I": u})  # "I" stays so
    assert vocabulary.letters("aaaaa", "") == {}
    assert vocabulary.fills("Aaa, aa.") and not vocabulary.fills("aaaaa")
    assert not vocabulary.fills("aa 99")  # no digits in this alphabet


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
