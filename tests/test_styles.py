from pathlib import Path

import numpy as np
import pytest
import torch

from handwriter.ink import Ink
from handwriter.styles import (
    list_styles,
    load_style,
    load_style_weights,
    remove_style,
    save_style,
    save_style_weights,
    styles_dir,
)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path))
    return tmp_path


def line(text: str, seed: int = 0) -> Ink:
    strokes = np.random.default_rng(seed).normal(size=(30, 3)).astype(np.float32)
    strokes[:, 2] = 0
    strokes[[9, 29], 2] = 1
    return Ink(strokes, text=text)


def test_a_style_round_trips_through_inkml(data_dir):
    path = save_style("my-hand_1", [line("hello there"), line("again", 1)])
    assert path == data_dir / "styles" / "my-hand_1.inkml" and styles_dir() == path.parent
    loaded = load_style("my-hand_1")
    assert [i.text for i in loaded] == ["hello there", "again"]
    np.testing.assert_allclose(loaded[0].points, line("x").points, atol=1e-5)
    assert list_styles() == ["my-hand_1"]
    assert not list(path.parent.glob("*.tmp"))  # written atomically


def test_saving_again_replaces_and_remove_deletes():
    save_style("a", [line("one")])
    save_style("a", [line("two")])
    save_style("b", [line("three")])
    assert list_styles() == ["a", "b"] and load_style("a")[0].text == "two"
    remove_style("a")
    assert list_styles() == ["b"]
    with pytest.raises(FileNotFoundError, match="no style named 'a'.*saved: b"):
        load_style("a")
    with pytest.raises(FileNotFoundError):
        remove_style("a")


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 41, "sp ace"])
def test_names_that_are_not_plain_file_names_are_refused(name):
    with pytest.raises(ValueError, match="style name"):
        save_style(name, [line("hi")])
    with pytest.raises(ValueError, match="style name"):
        load_style(name)


def test_a_style_needs_ink_and_its_text():
    with pytest.raises(ValueError, match="at least one line"):
        save_style("a", [])
    with pytest.raises(ValueError, match="line 2 .* transcription"):
        save_style("a", [line("ok"), line("  ")])
    assert list_styles() == []


def test_style_weights_round_trip_beside_the_ink_and_go_with_it(data_dir):
    save_style("a", [line("one")])
    assert load_style_weights("a") is None
    weights = {"head.bias": torch.arange(4.0), "head.weight": torch.ones(4, 2)}
    path = save_style_weights("a", weights)
    assert path == data_dir / "styles" / "a.pt"
    assert not list(path.parent.glob("*.tmp"))  # written atomically
    loaded = load_style_weights("a")
    assert loaded.keys() == weights.keys()
    torch.testing.assert_close(loaded["head.bias"], weights["head.bias"])
    assert list_styles() == ["a"]
    save_style("a", [line("new ink")])  # weights fitted to the old ink are stale
    assert load_style_weights("a") is None
    save_style_weights("a", weights)
    remove_style("a")
    assert not path.exists() and list_styles() == []
    with pytest.raises(FileNotFoundError, match="no style named 'a'"):
        save_style_weights("a", weights)


def test_a_crash_while_saving_weights_keeps_the_old_file(monkeypatch):
    save_style("a", [line("one")])
    save_style_weights("a", {"head.bias": torch.zeros(2)})

    def crash(obj, f):
        Path(f).write_bytes(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_style_weights("a", {"head.bias": torch.ones(2)})
    torch.testing.assert_close(load_style_weights("a")["head.bias"], torch.zeros(2))
