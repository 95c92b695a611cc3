import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

import handwriter.train as train_module
from handwriter.cli import main
from handwriter.data import MODEL_UNITS, LineSet, collate, with_primers
from handwriter.ink import Ink, InkError
from handwriter.model import (
    CHECKPOINT_VERSION,
    HandwritingNet,
    ModelConfig,
    load_checkpoint,
    load_model,
    mixture_nll,
    split_mixture,
)
from handwriter.sample import SampleConfig, Writer, generate
from handwriter.train import (
    TrainConfig,
    WeightAverage,
    backprop,
    cpu_has_bf16,
    evaluate,
    export_model,
    line_set,
    load_splits,
    save_checkpoint,
    train,
    writer_primers,
)

torch.set_num_threads(1)

TINY = ModelConfig(num_layers=1, hidden_size=16, num_mixtures=3, window_mixtures=2)


def config(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), steps=60, batch_size=8, max_points=60, chunk=25,
                lr=1e-2,
                eval_every=20, checkpoint_every=20, threads=1, resample_step=0.3,
                valid_percent=25, test_percent=0, min_char_count=1)
    return TrainConfig(**{**base, **kw})


def read_log(out) -> list[dict]:
    with open(out / "log.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tiny_run(cursive_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = config(cursive_npz, out)
    valid = train(cfg, TINY)
    return cfg, out, valid


def test_tiny_run_learns(tiny_run):
    cfg, out, valid = tiny_run
    log = read_log(out)
    assert [int(r["step"]) for r in log] == [20, 40, 60]
    first, last = (float(log[i]["valid_nats_per_point"]) for i in (0, -1))
    assert last < first - 0.2, log
    assert valid["nats_per_point"] == pytest.approx(last, abs=1e-4)
    assert {p.name for p in out.iterdir()} == {"last.pt", "best.pt", "log.csv", "loss.png"}
    state = torch.load(out / "last.pt", weights_only=True)  # atomic: no .tmp, loads safely
    assert state["step"] == 60 and state["version"] == CHECKPOINT_VERSION
    assert state["model_config"]["alphabet"] == ""
    assert state["optimizer"] is not None and "rng" in state and "torch_rng" in state


@pytest.mark.parametrize("alphabet", ["", "abc "], ids=["unconditional", "synthesis"])
def test_chunked_backprop_carries_the_state_and_truncates_the_gradient(alphabet):
    torch.manual_seed(0)
    net = HandwritingNet(ModelConfig(**{**asdict(TINY), "alphabet": alphabet}))
    rng = np.random.default_rng(0)
    lines = [np.c_[rng.normal(size=(n, 2)), rng.random(n) < 0.1].astype(np.float32)
             for n in (50, 37, 12)]
    texts = [np.array([1, 2, 3]), np.array([4, 1]), np.array([2])] if alphabet else None
    batch = collate(lines, texts)
    grads = {}
    for chunk in (0, 7):
        net.zero_grad()
        loss = backprop(net, batch, chunk, nullcontext())
        grads[chunk] = {k: p.grad.clone() for k, p in net.named_parameters()}
        if chunk == 0:
            whole = loss
    assert loss == pytest.approx(whole, rel=1e-5)  # the same forward pass, chunk by chunk
    torch.testing.assert_close(grads[7]["head.weight"], grads[0]["head.weight"])
    lstm = "cell.weight_hh" if alphabet else "layers.0.weight_hh_l0"
    assert not torch.allclose(grads[7][lstm], grads[0][lstm])  # no gradient across chunks


def test_the_style_gradient_reaches_the_encoder_once_per_batch():
    torch.manual_seed(0)
    net = HandwritingNet(replace(TINY, alphabet="abcd", style_size=3, style_hidden=5))
    for p in net.parameters():  # style columns that are not zero, as after some training
        p.data.add_(0.1 * torch.randn_like(p))
    rng = np.random.default_rng(0)
    lines = [np.c_[rng.normal(size=(n, 2)), rng.random(n) < 0.1].astype(np.float32)
             for n in (30, 21, 12)]
    batch = with_primers(collate(lines, [np.array([1, 2, 3]), np.array([4, 1]), np.array([2])]),
                         [lines[1], None, lines[0][:9]], 1.0)
    encoder = [k for k, _ in net.named_parameters() if k.startswith("style_encoder.")]
    grads = {}
    for chunk in (0, 7):
        net.zero_grad()
        backprop(net, batch, chunk, nullcontext())
        grads[chunk] = {k: p.grad.clone() for k, p in net.named_parameters()}
    net.zero_grad()  # the same loss in one graph, by hand
    style = net.encode_style(batch.primer, batch.primer_mask)
    raw, _ = net(batch.strokes_in, batch.text, batch.text_mask, style=style)
    (mixture_nll(split_mixture(raw), batch.strokes_out, batch.mask).sum()
     / batch.mask.sum()).backward()
    for k in encoder:
        torch.testing.assert_close(grads[0][k], dict(net.named_parameters())[k].grad)
        assert grads[7][k].abs().sum() > 0 and torch.isfinite(grads[7][k]).all()
    # naming the primers' writers adds its own gradient, and only to the encoder
    net = HandwritingNet(replace(net.cfg, style_writers=5))
    batch.writer = torch.tensor([3, -1, 0])
    side = {}
    for weight in (0.0, 1.0):
        net.zero_grad()
        backprop(net, batch, 0, nullcontext(), weight)
        side[weight] = {k: p.grad.clone() for k, p in net.named_parameters()
                        if p.grad is not None}
    assert "style_encoder.writer.weight" in side[1.0]
    assert side[0.0].get("style_encoder.writer.weight") is None
    for k, g in side[0.0].items():
        if not k.startswith("style_encoder."):
            torch.testing.assert_close(side[1.0][k], g)
    assert not torch.allclose(side[1.0]["style_encoder.out.weight"],
                              side[0.0]["style_encoder.out.weight"])


def test_weight_average_follows_the_weights_and_swaps_in_and_out():
    net = torch.nn.Linear(2, 1)
    average = WeightAverage(net, keep=0.9)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    average.update(step=1000)  # late in a run: keep 0.9 of the average
    expected = [0.9 * s + 0.1 * (s + 1) for s in start]
    with average.swapped_in():
        for p, e in zip(net.parameters(), expected, strict=True):
            torch.testing.assert_close(p.detach(), e)
    for p, s in zip(net.parameters(), start, strict=True):
        torch.testing.assert_close(p.detach(), s + 1)


def test_init_starts_from_a_checkpoints_weights_and_scale(tiny_run, tmp_path):
    cfg, out, _ = tiny_run
    start = load_checkpoint(out / "last.pt")
    # the weights decide the shape: asking for another is refused, naming the flag
    again = config(cfg.data, tmp_path, init=str(out / "last.pt"), steps=1, lr=1e-30)
    with pytest.raises(ValueError, match="--hidden-size 99: --init .* has"):
        train(again, ModelConfig(hidden_size=99))
    default = ModelConfig().hidden_size  # given on the command line, even the default is asked
    with pytest.raises(ValueError, match=f"--hidden-size {default}: --init .* has"):
        main(["train", "--data", cfg.data, "--out", str(tmp_path / "cli"), "--init",
              str(out / "last.pt"), "--hidden-size", str(default), "--steps", "1", "--debug"])
    train(again, ModelConfig(dropout=0.25))
    state = load_checkpoint(tmp_path / "last.pt")
    # ... but dropout is this run's choice
    assert state["model_config"] == {**start["model_config"], "dropout": 0.25}
    assert state["step"] == 1
    assert state["offset_scale"] == start["offset_scale"]
    for name, value in start["model"].items():
        torch.testing.assert_close(state["model"][name], value, rtol=1e-4, atol=1e-6)


def test_sigterm_saves_like_ctrl_c(cursive_npz, tmp_path):
    cfg = config(cursive_npz, tmp_path, steps=100_000, checkpoint_every=100_000,
                 eval_every=100_000)
    script = ("import json, sys; from handwriter.train import TrainConfig, train; "
              "from handwriter.model import ModelConfig; "
              "a = [json.loads(x) for x in sys.argv[1:]]; "
              "train(TrainConfig(**a[0]), ModelConfig(**a[1]))")
    proc = subprocess.Popen([sys.executable, "-u", "-c", script, json.dumps(asdict(cfg)),
                             json.dumps(asdict(TINY))], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()  # "... training lines ...": the loop is about to start
    time.sleep(1.5)
    proc.terminate()
    proc.wait(timeout=60)
    state = load_checkpoint(tmp_path / "last.pt")
    assert 0 < state["step"] < 100_000


def test_pairs_join_two_lines_of_one_writer_for_training_only(cursive_npz, tmp_path):
    cfg = config(cursive_npz, tmp_path, synthesis=True, max_points=400)
    single = load_splits(cfg, "train", "valid")
    paired = load_splits(replace(cfg, pairs=True), "train", "valid")
    assert [t for _, t, _ in paired["valid"]] == [t for _, t, _ in single["valid"]]
    extra = paired["train"][len(single["train"]):]
    assert extra and all(len(s) <= 400 for s, _, _ in extra)
    texts = {t for _, t, _ in single["train"]}
    for _, text, writer in extra:
        assert any(text == f"{a} {b}" for a in texts for b in texts)
        assert writer in {w for _, _, w in single["train"]}


def test_one_persons_ink_is_held_out_by_line_and_said(tmp_path):
    from conftest import wave_ink

    from handwriter.ink import write_lines

    path = tmp_path / "mine.npz"
    write_lines(path, [wave_ink(i, "ab ab", "me") for i in range(20)])
    cfg = TrainConfig(data=str(path))
    with pytest.warns(UserWarning, match="1 writer.*hold out single lines instead"):
        splits = load_splits(cfg, "train", "valid", "test")
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [18, 1, 1]  # 5% of 20
    with pytest.warns(UserWarning):
        again = load_splits(cfg, "valid")["valid"]
    np.testing.assert_array_equal(again[0][0], splits["valid"][0][0])  # the same line each time


def test_synthesis_run_end_to_end(cursive_npz, tmp_path):
    cfg = config(cursive_npz, tmp_path, synthesis=True, steps=20, eval_every=10,
                 checkpoint_every=10)
    valid = train(cfg, TINY)
    assert math.isfinite(valid["nats_per_point"])
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["model_config"]["alphabet"] == " abcde"
    train_lines = load_splits(cfg, "train")["train"]
    rate = sum(len(t) for _, t, _ in train_lines) / sum(len(s) for s, _, _ in train_lines)
    assert state["model_config"]["chars_per_step"] == pytest.approx(rate, abs=1e-4)
    writer = Writer.load(tmp_path / "last.pt")
    inks, phis = generate(writer, SampleConfig(max_points=30), texts=["bad", "ace"])
    assert [ink.text for ink in inks] == ["bad", "ace"]
    assert all(1 <= len(ink) <= 30 and ink.strokes[-1, 2] == 1 for ink in inks)
    assert phis[0].shape[1] == 4 and len(phis[0]) == max(len(ink) for ink in inks)


def test_letter_shapes_are_added_to_a_measured_style(cursive_npz, tmp_path):
    plain = config(cursive_npz, tmp_path / "plain", synthesis=True, steps=2, eval_every=2)
    train(plain, TINY)
    measured = replace(plain, out=str(tmp_path / "measured"), init=f"{plain.out}/last.pt",
                       style_id_weight=0)
    train(measured, ModelConfig(style_size=4, style_statistics=True))
    shaped = replace(measured, out=str(tmp_path / "shaped"), init=f"{measured.out}/last.pt")
    valid = train(shaped, ModelConfig(style_shape=True))
    assert math.isfinite(valid["nats_per_point"])
    before = load_checkpoint(tmp_path / "measured/last.pt")["model_config"]
    state = load_checkpoint(tmp_path / "shaped/last.pt")
    assert state["model_config"] == {**before, "style_shape": True}
    assert state["model"]["style_encoder.out.weight"].shape == (4, 12 + 13)


def test_a_style_is_added_to_a_trained_synthesis_model(cursive_npz, tmp_path):
    plain = config(cursive_npz, tmp_path / "plain", synthesis=True, steps=4, eval_every=4)
    train(plain, TINY)
    styled = replace(plain, out=str(tmp_path / "styled"), init=str(tmp_path / "plain/last.pt"),
                     steps=6, eval_every=3, style_dropout=0.5)
    valid = train(styled, ModelConfig(style_size=4, style_hidden=6))
    assert math.isfinite(valid["nats_per_point"])
    before = load_checkpoint(tmp_path / "plain/last.pt")
    state = load_checkpoint(tmp_path / "styled/last.pt")
    writers = len({w for _, _, w in load_splits(styled, "train")["train"]})
    assert state["model_config"] == {**before["model_config"], "style_size": 4,
                                     "style_hidden": 6, "style_writers": writers}
    assert [g["lr_scale"] for g in state["optimizer"]["param_groups"]] == [1.0, 10.0]
    assert state["model"]["cell.weight_ih"].shape[1] == before["model"]["cell.weight_ih"].shape[
        1] + 4
    # evaluation reads each line's style from another line of its writer
    writer = Writer.load(tmp_path / "styled/last.pt")
    lines = line_set(load_splits(styled, "valid")["valid"], writer.alphabet, style=True)
    assert all(b.primer_mask.sum() > 0 for b in lines.in_batches(8, 1.0))
    primer = Ink(lines.strokes[0], text="ab", meta={"units": MODEL_UNITS})
    style = writer.style_of([primer])
    assert style.shape == (4,) and style.abs().max() > 0
    inks, _ = generate(writer.styled(style), SampleConfig(max_points=20), texts=["bad"])
    assert inks[0].text == "bad" and 1 <= len(inks[0]) <= 20


def test_writer_styles_start_from_the_readings_and_are_learnt(cursive_npz, tmp_path):
    measured = config(cursive_npz, tmp_path / "measured", synthesis=True, steps=2,
                      eval_every=2, style_id_weight=0)
    train(measured, replace(TINY, style_size=4, style_statistics=True))
    table = replace(measured, out=str(tmp_path / "table"), init=f"{measured.out}/last.pt",
                    writer_styles=True, steps=6, eval_every=3, style_dropout=0)
    set_up = train_module.set_up(table, ModelConfig(), resume=False)
    net, lines = set_up.net, set_up.train_set
    writers = len(set(lines.writer_ids))
    assert net.cfg.style_table == writers and net.style_encoder.writer is None
    # each writer's row starts as the mean reading (before tanh) of their lines
    net.eval()
    first = lines.writer_ids[0]
    own = [lines.strokes[i] for i in range(len(lines)) if lines.writer_ids[i] == first]
    with torch.no_grad():
        primer, mask = train_module.pad_primers(own, set_up.offset_scale)
        read = torch.atanh(net.encode_style(primer, mask))
    assert torch.allclose(net.style_encoder.table.weight[first], read.mean(0), atol=1e-4)
    # lines are written in their writer's row, which learns, and so does the reading
    net.train()
    batch = lines.sample(np.random.default_rng(0), 8, 60, set_up.offset_scale, crop=False)
    named = batch.writer[batch.writer >= 0]
    backprop(net, batch, 0, nullcontext())
    grad = net.style_encoder.table.weight.grad
    assert (grad[named].abs().sum(1) > 0).all()
    others = torch.ones(writers, dtype=torch.bool)
    others[named] = False
    assert (grad[others] == 0).all()
    assert net.style_encoder.out.weight.grad.abs().sum() > 0
    # with noise, the lines are written near the row (the loss moves, a seed repeats it)
    # while the reading still learns the row itself (its gradient does not move)
    losses, reading = [], []
    for noise, seed in ((0.0, 0), (0.5, 0), (0.5, 0), (0.5, 1)):
        net.zero_grad()
        torch.manual_seed(seed)
        losses.append(backprop(net, batch, 0, nullcontext(), style_noise=noise))
        reading.append(net.style_encoder.out.weight.grad.clone())
    assert losses[1] == losses[2] and len({losses[0], losses[1], losses[3]}) == 3
    torch.testing.assert_close(reading[0], reading[1])
    valid = train(table, ModelConfig())
    assert math.isfinite(valid["nats_per_point"])
    state = load_checkpoint(tmp_path / "table/last.pt")
    assert state["model"]["style_encoder.table.weight"].shape == (writers, 4)
    assert not torch.equal(state["model"]["style_encoder.table.weight"],
                           net.style_encoder.table.weight.detach())
    # from scratch, too: the styles start from the untrained reading
    scratch = replace(table, out=str(tmp_path / "scratch"), init="", steps=2, eval_every=2)
    assert math.isfinite(train(scratch, replace(TINY, style_size=4,
                                                style_statistics=True))["nats_per_point"])


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bfloat16 (AVX512-BF16/AMX)")
@pytest.mark.parametrize("synthesis", [False, True], ids=["unconditional", "synthesis"])
def test_bf16_training_learns_and_saves_fp32_weights(cursive_npz, tmp_path, synthesis):
    cfg = config(cursive_npz, tmp_path, precision="bf16", synthesis=synthesis, steps=40)
    train(cfg, TINY)
    log = read_log(tmp_path)
    assert float(log[-1]["valid_nats_per_point"]) < float(log[0]["valid_nats_per_point"]) - 0.1
    state = load_checkpoint(tmp_path / "last.pt")
    assert all(v.dtype == torch.float32 for v in state["model"].values())


def test_bf16_without_cpu_support_is_a_clear_error(cursive_npz, tmp_path, monkeypatch):
    monkeypatch.setattr("handwriter.train.cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="--precision bf16 needs a CPU with AVX512-BF16"):
        train(config(cursive_npz, tmp_path, precision="bf16"), TINY)


def test_unknown_precision_is_a_clear_error(cursive_npz, tmp_path):
    with pytest.raises(ValueError, match="--precision must be fp32 or bf16, got 'fp16'"):
        train(config(cursive_npz, tmp_path, precision="fp16"), TINY)


@pytest.mark.parametrize("flags", [{"style_noise": 0.5}, {"style_noise": -0.1,
                                                            "writer_styles": True}])
def test_style_noise_without_writers_styles_or_below_zero_is_a_clear_error(cursive_npz,
                                                                           tmp_path, flags):
    with pytest.raises(ValueError, match="--style-noise moves writers' learnt styles"):
        train(config(cursive_npz, tmp_path, synthesis=True, **flags), replace(TINY, style_size=4))


@pytest.mark.parametrize("synthesis", [False, True], ids=["unconditional", "synthesis"])
@pytest.mark.parametrize("stop", ["drawing a batch", "saving after a step"])
def test_resume_continues_exactly(cursive_npz, tmp_path, monkeypatch, synthesis, stop):
    kw = dict(steps=8, eval_every=1000, checkpoint_every=3, synthesis=synthesis, max_points=40,
              average=0.9)
    straight = tmp_path / "straight"
    train(config(cursive_npz, straight, **kw), TINY)

    stopped = tmp_path / "stopped"
    draw, save = train_module.max_points_at, train_module.save_run
    stopped_at = 4 if stop == "drawing a batch" else 6  # mid-step 5, or once step 6 is taken

    def ctrl_c_drawing(step, cfg):
        if step == stopped_at:
            raise KeyboardInterrupt
        return draw(step, cfg)

    def ctrl_c_saving(run, path):
        if run.step == stopped_at and not ctrl_c_saving.done:
            ctrl_c_saving.done = True
            raise KeyboardInterrupt
        save(run, path)

    ctrl_c_saving.done = False
    if stop == "drawing a batch":
        monkeypatch.setattr(train_module, "max_points_at", ctrl_c_drawing)
    else:
        monkeypatch.setattr(train_module, "save_run", ctrl_c_saving)
    with pytest.raises(KeyboardInterrupt):
        train(config(cursive_npz, stopped, **kw), TINY)
    monkeypatch.undo()
    halfway = load_checkpoint(stopped / "last.pt")
    assert halfway["step"] == stopped_at
    train(config(cursive_npz, stopped, **kw), TINY, resume=True)

    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(stopped / "last.pt")
    assert a["step"] == b["step"] == 8
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert not torch.equal(a["model"][k], halfway["model"][k]), k
    for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                    strict=True):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert a["rng"] == b["rng"]
    for x, y in zip(a["average"], b["average"], strict=True):  # the weight average carries on
        assert torch.equal(x, y)
    assert read_log(straight)[-1] == read_log(stopped)[-1] | {"hours": read_log(straight)[-1][
        "hours"]}  # the training loss too: its steps before the stop are in last.pt


def test_a_resumed_log_drops_the_rows_after_last_pt(tmp_path):
    """A run killed outright logged steps past its last.pt; resumed, it logs them again."""
    log = tmp_path / "log.csv"
    log.write_text("step,valid\n100,-1.0\n200,-2.0\n300,-3.0\n")
    train_module.log_up_to(log, 200)
    assert log.read_text() == "step,valid\n100,-1.0\n200,-2.0\n"
    train_module.log_up_to(tmp_path / "absent.csv", 200)  # a run with no log yet
    assert not (tmp_path / "absent.csv").exists()


def test_checkpoint_writes_are_atomic(tiny_run, tmp_path, monkeypatch):
    _, out, _ = tiny_run
    net, state = load_model(out / "last.pt")
    path = tmp_path / "last.pt"
    save_checkpoint(path, net, None, 7, 0.5)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

    def dies_halfway(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, net, None, 8, 0.5)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 7  # the old checkpoint is whole


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_checkpoint_rejects_bad_files(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 this is not a checkpoint" * 10)
    with pytest.raises(InkError, match=r"garbage\.pt: not a handwriter checkpoint"):
        load_checkpoint(garbage)
    future = tmp_path / "future.pt"
    torch.save({"version": 99, "model": {}}, future)
    with pytest.raises(InkError, match=r"future\.pt: unsupported checkpoint version 99"):
        load_checkpoint(future)
    a_list = tmp_path / "list.pt"
    torch.save([1, 2, 3], a_list)
    with pytest.raises(InkError, match=r"list\.pt: not a handwriter checkpoint"):
        load_checkpoint(a_list)
    evil = tmp_path / "evil.pt"
    torch.save({"version": 1, "x": Payload()}, evil)
    with pytest.raises(InkError, match=r"evil\.pt: not a handwriter checkpoint"):
        load_checkpoint(evil)  # weights_only: the payload never runs
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_export_is_fp16_and_writes_the_same(tiny_run, tmp_path):
    _, out, _ = tiny_run
    small = tmp_path / "small.pt"
    export_model(out / "last.pt", small)
    assert [p.name for p in tmp_path.iterdir()] == ["small.pt"]
    raw = torch.load(small, weights_only=True)
    assert all(v.dtype == torch.float16 for v in raw["model"].values())
    assert raw["optimizer"] is None and "rng" not in raw and "torch_rng" not in raw
    assert small.stat().st_size < (out / "last.pt").stat().st_size / 2

    full, _ = load_model(out / "last.pt")
    half, state = load_model(small)
    assert state["offset_scale"] == load_checkpoint(out / "last.pt")["offset_scale"]
    assert all(p.dtype == torch.float32 for p in half.parameters())
    g = torch.Generator().manual_seed(0)
    strokes = torch.cat([torch.randn(2, 30, 2, generator=g),
                         (torch.rand(2, 30, 1, generator=g) < 0.2).float()], -1)
    with torch.no_grad():
        a, _ = full(strokes)
        b, _ = half(strokes)
    torch.testing.assert_close(b, a, rtol=1e-2, atol=1e-2)


def test_evaluate_reports_consistent_numbers(tiny_run):
    cfg, out, _ = tiny_run
    net, state = load_model(out / "last.pt")
    valid_set = line_set(load_splits(cfg, "valid")["valid"], "")
    scale = state["offset_scale"]
    result = evaluate(net, valid_set, scale)
    assert set(result) == {"nats_per_sequence", "nats_per_point", "lines", "points"}
    assert result["lines"] == len(valid_set) == 24
    assert result["points"] == sum(len(s) for s in valid_set.strokes)
    assert result["nats_per_sequence"] * result["lines"] == pytest.approx(
        result["nats_per_point"] * result["points"], rel=1e-9)
    # What training logged for its last step, and blind to batching (padding is masked).
    assert result["nats_per_point"] == pytest.approx(
        float(read_log(out)[-1]["valid_nats_per_point"]), abs=1e-4)
    one_by_one = evaluate(net, valid_set, scale, batch_size=1)
    assert one_by_one["nats_per_point"] == pytest.approx(result["nats_per_point"], rel=1e-5)
    # Ink c times larger, seen through a c times larger scale: the same inputs to the
    # network, and a density lower by c^2 per point (2 log c nats).
    c = 3.0
    bigger = LineSet([s * np.array([c, c, 1], np.float32) for s in valid_set.strokes])
    scaled = evaluate(net, bigger, scale * c)
    assert scaled["nats_per_point"] == pytest.approx(result["nats_per_point"] + 2 * math.log(c),
                                                     rel=1e-5)


DDP_SCRIPT = """
import json, os, sys
import torch
import handwriter.train as T
from handwriter.model import CHECKPOINT_VERSION, ModelConfig, load_checkpoint, load_model

made = []
real = T.HandwritingNet

def recording(cfg):
    net = real(cfg)
    made.append((net, {k: v.clone() for k, v in net.state_dict().items()}))
    return net

T.HandwritingNet = recording
T.train(T.TrainConfig(**json.loads(sys.argv[1])), ModelConfig(**json.loads(sys.argv[2])))
net, initial = made[0]
torch.save({"final": net.state_dict(), "initial": initial},
           os.path.join(sys.argv[3], f"rank{os.environ['RANK']}.pt"))
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_distributed_replicas_stay_identical(cursive_npz, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "run"
    cfg = config(cursive_npz, out, steps=6, eval_every=3, checkpoint_every=3)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(2):  # a gloo connection reset aborts a rank (SIGABRT) on a loaded
        # machine now and then (pytorch/pytorch#60662); once more, in a fresh folder, then fail
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
             "2", str(script), json.dumps(asdict(cfg)), json.dumps(asdict(TINY)),
             str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0 or "(SIGABRT)" not in proc.stderr:
            break
    assert proc.returncode == 0, proc.stderr[-8000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = load_checkpoint(out / "last.pt")
    assert saved["step"] == 6 and len(read_log(out)) == 2
    for k, v in r0["final"].items():
        assert torch.equal(v, r1["final"][k]), k   # the replicas agree exactly
        assert torch.equal(v, saved["model"][k]), k
    assert any(not torch.equal(v, r0["initial"][k]) for k, v in r0["final"].items())


def test_writer_primers_take_one_line_of_each_held_out_writer(lines_npz):
    cfg = TrainConfig(data=str(lines_npz), synthesis=True, max_points=600)
    valid = load_splits(cfg, "valid")["valid"]
    whole = [(s, w) for s, t, w in valid if len(s) >= 8 * len(t)]  # ink not cut short
    primers = writer_primers(str(lines_npz), max_points=600)
    assert [p.writer for p in primers] == sorted({w for _, w in whole})
    for primer in primers:
        assert len(primer) == max(len(s) for s, w in whole if w == primer.writer)
        assert primer.meta["units"] == MODEL_UNITS and primer.text
