import itertools
import json

import numpy as np
import pytest
import torch

import handwriter.reader as reader_module
from handwriter import writing
from handwriter.cli import main
from handwriter.ink import InkError, read_lines, write_lines
from handwriter.reader import (
    InkReader,
    Reader,
    ReaderConfig,
    ReaderTrainConfig,
    edit_distance,
    greedy_decode,
    text_nll,
    train_reader,
)
from handwriter.sample import SampleConfig, Writer, draw
from handwriter.writing import write_line


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance("lazy", "lazy") == 0 and edit_distance("lazy", "laxy") == 1


def test_greedy_decode_merges_repeats_and_drops_blanks():
    alphabet, blank = "ab", 3                   # classes: 0 unknown, 1 a, 2 b, 3 blank
    path = [1, 1, 3, 1, 2, 0, 3, 2]
    log_probs = torch.log(torch.nn.functional.one_hot(torch.tensor([path]), 4).float() + 1e-6)
    assert greedy_decode(log_probs, torch.tensor([8]), alphabet, blank) == ["aab?b"]
    assert greedy_decode(log_probs, torch.tensor([4]), alphabet, blank) == ["aa"]


def test_ctc_nll_matches_a_sum_over_every_alignment():
    rng = np.random.default_rng(0)
    T, C, blank = 5, 3, 2                        # classes: 0, 1 and the blank
    probs = rng.dirichlet(np.ones(C), size=T)
    log_probs = torch.tensor(np.log(probs))[None]

    def collapse(path):
        merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        return [k for k in merged if k != blank]

    for target in ([1], [1, 1], [0, 1, 0], [1, 1, 1]):
        brute = sum(np.prod(probs[np.arange(T), path])
                    for path in itertools.product(range(C), repeat=T)
                    if collapse(list(path)) == target)
        nll = text_nll(log_probs, torch.tensor([T]), torch.tensor([target]),
                       torch.ones(1, len(target)), blank)
        assert float(nll) == pytest.approx(-np.log(brute), rel=1e-6)
    # "aaa" needs two blanks between the repeats: no alignment in 4 frames
    short = text_nll(log_probs[:, :4], torch.tensor([4]), torch.tensor([[1, 1, 1]]),
                     torch.ones(1, 3), blank)
    assert torch.isinf(short).all()
    assert float(text_nll(log_probs[:, :4], torch.tensor([4]), torch.tensor([[1, 1, 1]]),
                          torch.ones(1, 3), blank, zero_infinity=True)) == 0


def test_a_line_reads_the_same_alone_and_padded_in_a_batch():
    torch.manual_seed(0)
    net = Reader(ReaderConfig(hidden_size=8, stride=2, alphabet="ab")).eval()
    long, short = torch.randn(1, 11, 3), torch.randn(1, 7, 3)
    batch = torch.cat([long, torch.cat([short, torch.zeros(1, 4, 3)], 1)])
    with torch.no_grad():
        together, n = net(batch, torch.tensor([11, 7]))
        alone, m = net(short, torch.tensor([7]))
    assert n.tolist() == [6, 4] and m.tolist() == [4]
    torch.testing.assert_close(together[1, :4], alone[0], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def trained(cursive_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("reader")
    cfg = ReaderTrainConfig(data=str(cursive_npz), out=str(out), steps=300, batch_size=16,
                            lr=1e-2, eval_every=100, threads=1, distortion=0.0,
                            resample_step=0.3, valid_percent=25, test_percent=0)
    result = train_reader(cfg, ReaderConfig(hidden_size=24, stride=2, num_layers=1))
    return out, result


def test_tiny_reader_learns_to_read_unseen_writers(trained, cursive_npz):
    out, result = trained
    rows = (out / "log.csv").read_text().split()[1:]
    cer = [float(r.split(",")[2]) for r in rows]
    assert len(cer) == 3 and cer[-1] < 0.5 * cer[0] and result["cer"] < 0.4, rows
    reader = InkReader.load(out / "best.pt")
    inks = read_lines(cursive_npz)[:20]
    truth = [ink.text for ink in inks]
    wrong = [t[::-1] for t in truth]          # the same letters, in the wrong order
    right_nll = reader.nats_per_char(inks, truth)
    wrong_nll = reader.nats_per_char(inks, wrong)
    assert np.mean(right_nll < wrong_nll) > 0.8


def test_interrupted_reader_training_resumes_exactly(cursive_npz, resumes_exactly):
    small = ReaderConfig(hidden_size=8, stride=2, num_layers=1)

    def train(out, resume):
        train_reader(ReaderTrainConfig(data=str(cursive_npz), out=str(out), steps=6,
                                       batch_size=8, eval_every=2, threads=1,
                                       resample_step=0.3, valid_percent=25, test_percent=0),
                     small, resume=resume)

    broken = resumes_exactly(train, reader_module, "text_nll")
    logged = (broken / "log.csv").read_text().split()
    assert [r.split(",")[0] for r in logged[1:]] == ["2", "4", "6"]


def test_reader_and_writer_checkpoints_are_told_apart(trained, synth_model):
    out, _ = trained
    with pytest.raises(InkError, match="not a reader checkpoint"):
        InkReader.load(synth_model)
    with pytest.raises(InkError, match="a reader checkpoint"):
        Writer.load(out / "best.pt")
    assert InkReader.load(out / "last.pt").net.cfg.alphabet == " abcde"


def test_read_cli_prints_what_it_reads(trained, cursive_npz, tmp_path, capsys):
    out, _ = trained
    inks = read_lines(cursive_npz)[:3]
    path = tmp_path / "three.npz"
    write_lines(path, inks)
    assert main(["read", str(path), "--model", str(out / "best.pt")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [p.split("\t")[1] for p in printed] == [ink.text for ink in inks]
    assert main(["read", str(path), "--model", str(tmp_path / "missing.pt")]) == 2


def test_train_reader_cli(cursive_npz, tmp_path, capsys):
    assert main(["train-reader", "--data", str(cursive_npz), "--out", str(tmp_path),
                 "--steps", "2", "--eval-every", "2", "--threads", "1"]) == 0
    assert "cer" in json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (tmp_path / "best.pt").exists()
    assert main(["train-reader", "--out", str(tmp_path)]) == 2   # no --data


def test_write_line_keeps_the_draft_that_reads_best(trained, synth_model, monkeypatch):
    out, _ = trained
    reader = InkReader.load(out / "best.pt")
    drawn = []

    def spy(*args, **kw):
        inks, phis, pen = draw(*args, **kw)
        drawn.append(inks)
        return inks, phis, pen

    monkeypatch.setattr(writing, "draw", spy)
    monkeypatch.setattr(writing, "spoiled", lambda ink: False)  # random weights scribble
    line = write_line(Writer.load(synth_model), "abc",
                      SampleConfig(max_points=60, seed=2, candidates=4), reader=reader)
    inks, = drawn                                  # it finished within the first segment
    scores = reader.nats_per_char(inks, ["abc"] * 4)
    np.testing.assert_array_equal(line.strokes, inks[int(np.argmin(scores))].strokes)
