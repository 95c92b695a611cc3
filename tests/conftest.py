"""Shared fixtures: tiny random-init checkpoints and a small lines.npz, built once per run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from handwriter.data import writer_split
from handwriter.ink import Ink, write_lines
from handwriter.model import HandwritingNet, ModelConfig, load_checkpoint
from handwriter.text_model import TextModel, TextModelConfig
from handwriter.train import TrainConfig, save_checkpoint

ALPHABET = "abcdefghijklmnopqrstuvwxyz ."
OFFSET_SCALE = 0.3


@pytest.fixture(scope="session", autouse=True)
def user_data(tmp_path_factory):
    """No test touches the user's real styles: a test or fixture that sets its own folder
    restores this one when it ends, never the unset variable."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HANDWRITER_DATA_DIR", str(tmp_path_factory.mktemp("user-data")))
        yield


@pytest.fixture(autouse=True)
def one_thread():
    """Tests are tiny: one thread is fastest, and training code may have changed it."""
    torch.set_num_threads(1)


@pytest.fixture
def resumes_exactly(tmp_path):
    """A check that a 6-step training stopped by Ctrl-C on the 4th counted call of
    `owner.name` saves step 3, and resumed ends with the weights of a run straight through.
    `train(out, resume)` runs it; the broken run's folder is returned."""
    def check(train, owner, name: str, counted=lambda *args, **kw: True):
        train(tmp_path / "straight", False)
        original, calls = getattr(owner, name), []

        def interrupting(*args, **kw):
            if counted(*args, **kw):
                calls.append(1)
                if len(calls) == 4:
                    raise KeyboardInterrupt
            return original(*args, **kw)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(owner, name, interrupting)
            with pytest.raises(KeyboardInterrupt):
                train(tmp_path / "broken", False)
        assert load_checkpoint(tmp_path / "broken" / "last.pt")["step"] == 3
        train(tmp_path / "broken", True)
        a, b = (load_checkpoint(tmp_path / run / "last.pt") for run in ("straight", "broken"))
        assert a["step"] == b["step"] == 6
        for key, value in a["model"].items():
            torch.testing.assert_close(b["model"][key], value)
        return tmp_path / "broken"
    return check


def tiny_net(**kw) -> HandwritingNet:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return HandwritingNet(ModelConfig(num_layers=2, hidden_size=16, num_mixtures=3, **kw))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A random-init unconditional checkpoint (2 layers of 16, 3 mixtures)."""
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_checkpoint(path, tiny_net(), TrainConfig(), step=0, offset_scale=OFFSET_SCALE)
    return path


@pytest.fixture(scope="session")
def synth_model(tmp_path_factory):
    """A random-init synthesis checkpoint; its window moves half a character per point."""
    return synthesis_checkpoint(tmp_path_factory, "synth")


@pytest.fixture(scope="session")
def style_model(tmp_path_factory):
    """A random-init synthesis checkpoint with a style input (4 numbers)."""
    return synthesis_checkpoint(tmp_path_factory, "style", style_size=4, style_hidden=6)


@pytest.fixture(scope="session")
def stats_style_model(tmp_path_factory):
    """As `style_model`, the style read from the line's measurements (`line_statistics`)."""
    return synthesis_checkpoint(tmp_path_factory, "stats_style", style_size=4,
                                style_statistics=True)


@pytest.fixture(scope="session")
def table_model(tmp_path_factory):
    """A random-init synthesis checkpoint with learnt styles for 4 training writers, over
    the characters of `neatness.SENTENCES`."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = HandwritingNet(ModelConfig(num_layers=1, hidden_size=16, num_mixtures=3,
                                         window_mixtures=3,
                                         alphabet="abcdefghijklmnopqrstuvwxyzACDIBLMOST ,.",
                                         chars_per_step=0.5, style_size=4,
                                         style_statistics=True, style_table=4))
        with torch.no_grad():
            net.style_encoder.table.weight.normal_(0, 1)
    path = tmp_path_factory.mktemp("models") / "table.pt"
    save_checkpoint(path, net, TrainConfig(), step=0, offset_scale=0.3)
    return path


def synthesis_checkpoint(tmp_path_factory, name: str, **cfg) -> Path:
    """A random-init synthesis network over ALPHABET saved as `name`.pt."""
    path = tmp_path_factory.mktemp("models") / f"{name}.pt"
    net = tiny_net(window_mixtures=3, alphabet=ALPHABET, chars_per_step=0.5, **cfg)
    save_checkpoint(path, net, TrainConfig(), step=0, offset_scale=OFFSET_SCALE)
    return path


@pytest.fixture
def text_net() -> TextModel:
    """A random-init character model over ALPHABET (two layers of 8), in eval mode."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TextModel(TextModelConfig(alphabet=ALPHABET, embed_size=4, hidden_size=8)).eval()


@pytest.fixture(scope="session")
def text_model(tmp_path_factory):
    """A random-init text model checkpoint that drafts text for the test synthesis models."""
    path = tmp_path_factory.mktemp("models") / "text.pt"
    net = TextModel(TextModelConfig(alphabet=ALPHABET, embed_size=4, hidden_size=8))
    save_checkpoint(path, net, None, step=0, offset_scale=1.0, extra={"kind": "text"})
    return path


def wave_ink(i: int, text: str, writer: str) -> Ink:
    """A two-stroke wavy line in integer tablet units, different for every i."""
    t = np.linspace(0, 6, 60)
    points = np.stack([t * 10, 10 * np.sin(t * (1 + i % 3)) + i], 1)
    strokes = np.zeros((60, 3), np.float32)
    strokes[:, :2] = np.round(np.diff(points, axis=0, prepend=np.zeros((1, 2))))
    strokes[[29, 59], 2] = 1
    return Ink(strokes, text=text, writer=writer)


@pytest.fixture(scope="session")
def lines_npz(tmp_path_factory):
    """Eight lines by four writers: two in the training split, two in the validation split."""
    names = [f"w{i}" for i in range(100)]
    writers = ([n for n in names if writer_split(n) == "train"][:2]
               + [n for n in names if writer_split(n) == "valid"][:2])
    inks = [wave_ink(i, ["ab ab", "hello", "a b c", "zz"][i % 4], writers[i % 4])
            for i in range(8)]
    path = tmp_path_factory.mktemp("data") / "lines.npz"
    write_lines(path, inks)
    return path


AMP = {"a": 0.4, "b": 1.0, "c": 0.7, "d": 1.3, "e": 0.5}  # each letter: one wave of its height
WRITERS = [f"w{i}" for i in range(12)]  # w4, w7 and w11 hash into a 25% validation split


def cursive(rng, style, text) -> Ink:
    """Noisy 'cursive': one sine stroke per word, a wave per letter, in tablet units."""
    slant, scale, noise = style
    strokes, x = [], 0.0
    for word in text.split():
        pts = []
        for ch in word:
            t = np.linspace(0, 1, 9)[1 if pts else 0:]
            y = AMP[ch] * np.sin(2 * np.pi * t)
            pts.append(np.stack([x + t + slant * y, y], 1))
            x += 1
        p = np.concatenate(pts) * scale
        strokes.append(np.round(p + rng.normal(0, noise, p.shape)))
        x += 0.7
    return Ink.from_stroke_list(strokes, text=text)


@pytest.fixture(scope="session")
def cursive_npz(tmp_path_factory):
    """96 lines of random 'words' over the letters a-e by 12 writers, each their own slant,
    size and noise: learnable, for tiny training runs."""
    rng = np.random.default_rng(0)
    inks = []
    for writer in WRITERS:
        style = (rng.uniform(-0.3, 0.3), rng.uniform(15, 40), rng.uniform(0.2, 1.0))
        for _ in range(8):
            words = ["".join(rng.choice(list("abcde"), rng.integers(2, 4)))
                     for _ in range(rng.integers(1, 4))]
            ink = cursive(rng, style, " ".join(words))
            ink.writer = writer
            inks.append(ink)
    path = tmp_path_factory.mktemp("data") / "cursive.npz"
    write_lines(path, inks)
    return path


@pytest.fixture(scope="session")
def studio_url(synth_model, text_model):
    """A live studio server on loopback, in a thread, with the tiny models and the shipped
    reader, saving styles to the session's folder (`user_data`)."""
    yield from live_studio(synth_model, text_model)


@pytest.fixture(scope="session")
def style_studio_url(stats_style_model, text_model):
    """As `studio_url` with a synthesis model that has a style input, so it adapts to a drawn
    hand (in 3 steps: fast, and enough to show progress)."""
    from handwriter.adapt import AdaptConfig

    yield from live_studio(stats_style_model, text_model, AdaptConfig(steps=3))


def live_studio(synthesis: Path, text_model: Path, adapting=None):
    """Run a studio server until the session ends, yielding its address."""
    import socket
    import threading
    import time

    import uvicorn

    from handwriter.studio import StudioConfig
    from handwriter.studio.app import create_app
    from handwriter.studio.live import Models

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = StudioConfig(port=port, max_text=200, max_active=1)
    app = create_app(cfg, Models(synthesis, text_model), adapting)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)
