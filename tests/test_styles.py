import numpy as np
import pytest
import torch

from handwriter.ink import Ink
from handwriter.styles import (
    MAX_PRIMER_POINTS,
    check_line,
    check_style,
    list_styles,
    load_style,
    load_style_weights,
    primer_line,
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


# ---------------------------------------------------------------- lines that can prime


class FakeWriter:
    """What the checks need of a Writer: its preprocessing and alphabet."""

    resample_step, max_jump = 0.2, 8.0

    def check_text(self, text: str) -> None:
        unknown = sorted(set(text) - set("abcdefghijklmnopqrstuvwxyz ."))
        if unknown:
            raise ValueError(f"the model cannot write {''.join(unknown)!r}")


def wave(width: float, text: str) -> Ink:
    """One pen-down wave one unit high and `width` units wide: `width` line heights."""
    x = np.linspace(0, width, int(width * 20) + 1)
    points = np.stack([x, 0.5 * np.sin(3 * x)], 1)
    return Ink.from_stroke_list([points], text=text)


def test_text_far_too_long_or_short_for_the_ink_is_a_warning():
    writer = FakeWriter()
    assert check_line(writer, wave(8, "a good line"), "x") == ""
    assert check_line(writer, wave(4, "a" * 40), "x").startswith(
        f"x: {'a' * 40!r} has 40 characters for ink 4.1 line heights wide")
    assert "has 2 characters for ink 63" in check_line(writer, wave(60, "ab"), "x")
    assert "'a' has 1 character for ink 63" in check_line(writer, wave(60, "a"), "x")
    assert check_line(writer, wave(60, "the ink is sixty line heights long and this is too"),
                      "x") == ""


@pytest.mark.parametrize("strokes, what", [(np.zeros((0, 3)), "no ink"),
                                           ([[1, 1, 1]], "one point"),
                                           ([[0, 0, 0], [5, 0, 1]], "no height")])
def test_a_line_without_writing_is_refused(strokes, what):
    with pytest.raises(ValueError, match=f"mine.inkml: .*{what}"):
        check_line(FakeWriter(), Ink(strokes, text="ab"), "mine.inkml")


def test_characters_the_model_cannot_write_are_named():
    with pytest.raises(ValueError, match=r"mine.inkml line 2: the model cannot write 'A'"):
        check_style(FakeWriter(), [wave(5, "ab"), wave(5, "Ab")],
                    ["mine.inkml line 1", "mine.inkml line 2"])


def test_the_longest_line_the_model_handles_primes():
    writer = FakeWriter()
    short, longest, too_long = wave(3, "ab"), wave(20, "abc def"), wave(120, "ab")
    assert primer_line(writer, [short, too_long, longest], "s") is longest
    assert len(check_style(writer, [short, too_long], ["1", "2"])) == 1  # 'ab' over 120
    with pytest.raises(ValueError, match=r"^the style: its shortest line is \d+ points long .* "
                                         rf"at most {MAX_PRIMER_POINTS}: add a shorter line"):
        check_style(writer, [too_long, wave(100, "ab")], ["1", "2"])
    with pytest.raises(ValueError, match=r"^long.inkml: the line is \d+ points"):
        check_style(writer, [too_long], ["long.inkml"])


def test_a_number_is_not_a_style_name():
    with pytest.raises(ValueError, match="numbers are the model's own styles"):
        save_style("42", [line("hi")])
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

    def crash(obj, f):  # half a file written, then the disk fills
        f.write(b"half a fi")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_style_weights("a", {"head.bias": torch.ones(2)})
    torch.testing.assert_close(load_style_weights("a")["head.bias"], torch.zeros(2))


def test_a_model_with_a_style_input_reads_the_hand_instead_of_priming(style_model):
    from handwriter.sample import WRITING, Writer
    from handwriter.writing import in_style, resolve_style

    writer = Writer.load(style_model)
    assert writer.style_net is not None and not writer.style.any()  # no style: zero vector
    lines = [line("one", 1), line("two", 2)]
    save_style("mine", lines)
    styled, primer, text = resolve_style(writer, "mine", WRITING)
    assert primer is None and text == ""
    torch.testing.assert_close(styled.style, writer.style_of(lines))
    assert not torch.allclose(styled.style, writer.style_of(lines[:1]))  # both lines count
    save_style_weights("mine", {"style": torch.full((4,), 0.5),  # adapted to it: used as is
                                "model": writer.fingerprint})
    tuned, primer, _ = resolve_style(writer, "mine", WRITING)
    assert primer is None and tuned.style.tolist() == [0.5] * 4
    # a primer given directly (`write --prime`) gives the hand the same way
    from_primer, primer, text = in_style(writer, lines[0], "one")
    assert primer is None and text == ""
    torch.testing.assert_close(from_primer.style, writer.style_of(lines[:1]))


def test_a_style_adapted_to_another_model_is_adapted_again_and_saved(style_model,
                                                                     stats_style_model, capsys):
    from handwriter.adapt import AdaptConfig, adapt
    from handwriter.sample import WRITING, Writer
    from handwriter.writing import resolve_style

    writer = Writer.load(style_model)
    assert torch.equal(Writer.load(style_model).fingerprint, writer.fingerprint)
    assert not torch.equal(Writer.load(stats_style_model).fingerprint, writer.fingerprint)
    lines = [line("one", 1), line("two", 2)]
    save_style("mine", lines)
    for old in ({"model": writer.fingerprint ^ 1, "share": torch.tensor(1.0)},
                {}):  # another model's, and one saved before styles named their model
        save_style_weights("mine", {"style": torch.full((4,), 0.5), **old})
        styled, _, _ = resolve_style(writer, "mine", WRITING)
        assert "adapted to another model" in capsys.readouterr().err
        kept = load_style_weights("mine")
        assert torch.equal(kept["model"], writer.fingerprint)
        share = float(old.get("share", AdaptConfig.share))
        assert float(kept["share"]) == share  # the share it was asked for is kept
        again = adapt(writer, lines, AdaptConfig(share=share))
        torch.testing.assert_close(kept["style"], again.style)
        torch.testing.assert_close(styled.style, kept["style"])
        resolve_style(writer, "mine", WRITING)  # once: now it fits
        assert capsys.readouterr().err == ""


@pytest.mark.parametrize("model", ["style_model", "stats_style_model"])
def test_style_strength_scales_the_hand_before_tanh(model, request):
    from dataclasses import replace

    from handwriter.sample import WRITING, Writer
    from handwriter.writing import resolve_style, write_page

    writer = Writer.load(request.getfixturevalue(model))
    lines = [line("one", 1), line("two", 2)]
    full, double = writer.style_of(lines), writer.style_of(lines, strength=2.0)
    # a line's style is tanh of a linear map: strength 2 is tanh(2 atanh(style)) per line
    each = writer.style_net.encode_style(*writer.primers(lines))
    torch.testing.assert_close(double, torch.tanh(2 * torch.atanh(each)).mean(0))
    assert not torch.allclose(full, double)
    assert not writer.style_of(lines, strength=0.0).any()  # no particular hand
    with pytest.raises(ValueError, match="style strength must be 0 or more, got -1"):
        replace(WRITING, style_strength=-1.0)
    # strength 0 writes exactly what no style writes, for the same seed
    save_style("mine", lines)
    cfg = replace(WRITING, candidates=1, style_drafts=1, max_points=60, style_strength=0.0)
    styled, _, _ = resolve_style(writer, "mine", cfg)
    assert not styled.style.any()
    torch.testing.assert_close(write_page(writer, ["ab"], cfg, style="mine")[0].strokes,
                               write_page(writer, ["ab"], cfg)[0].strokes)


def test_a_persons_hand_is_written_from_more_drafts(style_model, monkeypatch):
    from dataclasses import replace

    from handwriter import writing
    from handwriter.sample import WRITING, Writer

    drafts = []
    monkeypatch.setattr(writing, "write_lines_together",
                        lambda writer, lines, cfg, *a, **k: drafts.append(cfg.candidates))
    writer = Writer.load(style_model)
    lines = [line("one", 1), line("two", 2)]
    save_style("mine", lines)
    cfg = replace(WRITING, candidates=3, style_drafts=4)
    writing.write_page(writer, ["ab"], cfg)                     # no style
    writing.write_page(writer, ["ab"], cfg, style="mine")       # a saved style
    writing.write_page(writer, ["ab"], cfg, primer=lines[0], primer_text="one")  # a primer
    assert drafts == [3, 12, 12]
