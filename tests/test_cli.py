import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from handwriter.cli import ONE_DRAFT, build_parser, config_from_args, field_comments, main
from handwriter.ink import Ink, read_inkml, read_lines, write_inkml
from handwriter.layout import PageConfig
from handwriter.model import ModelConfig, load_model
from handwriter.plotter import PlotterConfig
from handwriter.reader import InkReader
from handwriter.render import PenStyle
from handwriter.sample import WRITING, SampleConfig, Writer, generate
from handwriter.styles import load_style, load_style_weights
from handwriter.train import TrainConfig

SAMPLE = ["--n", "2", "--max-points", "50"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fails(capsys, *argv) -> str:
    """Run a command that must fail cleanly; its stderr."""
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("handwriter: error: ") and "Traceback" not in err
    return err


# ---------------------------------------------------------------- sample and write


@pytest.mark.parametrize("kind", [".svg", ".png", ".gif", ".npz", ".inkml"])
def test_sample_writes_each_kind_the_same_for_one_seed(kind, tiny_model, tmp_path, capsys):
    first, again, other = (tmp_path / f"{name}{kind}" for name in ("a", "b", "c"))
    for path, seed in ((first, 0), (again, 0), (other, 1)):
        code, out, _ = run(capsys, "sample", "-o", path, "--model", tiny_model, *SAMPLE,
                           "--seed", seed)
        assert code == 0 and out.strip() == str(path)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    if kind == ".svg":
        assert ET.parse(first).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    elif kind in (".png", ".gif"):
        with Image.open(first) as image:
            assert image.format == kind[1:].upper() and image.size[0] > 50
            assert kind == ".png" or image.n_frames > 5
    elif kind == ".npz":
        assert [len(ink) for ink in read_lines(first)] == [50, 50]
    else:
        run(capsys, "sample", "-o", tmp_path / "same.npz", "--model", tiny_model, *SAMPLE)
        for read, saved in zip(read_inkml(first), read_lines(tmp_path / "same.npz"), strict=True):
            np.testing.assert_allclose(read.points, saved.points, rtol=1e-4, atol=1e-6)
            np.testing.assert_array_equal(read.strokes[:, 2], saved.strokes[:, 2])


def test_sample_int8_writes_what_generate_writes_with_int8(tiny_model, tmp_path, capsys):
    path = tmp_path / "int8.npz"
    assert run(capsys, "sample", "-o", path, "--model", tiny_model, *SAMPLE, "--int8")[0] == 0
    inks, _ = generate(Writer.load(tiny_model), SampleConfig(n=2, max_points=50, int8=True))
    for read, drawn in zip(read_lines(path), inks, strict=True):
        np.testing.assert_allclose(read.strokes, drawn.strokes, atol=1e-4)
    fp32, _ = generate(Writer.load(tiny_model), SampleConfig(n=2, max_points=50))
    assert not np.allclose(read_lines(path)[0].strokes, fp32[0].strokes, atol=1e-4)


def test_sample_split_writes_numbered_files(tiny_model, tmp_path, capsys):
    code, out, _ = run(capsys, "sample", "-o", tmp_path / "x.svg", "--model", tiny_model,
                       *SAMPLE, "--split")
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-001.svg", "x-002.svg"]
    assert out.split() == [str(tmp_path / "x-001.svg"), str(tmp_path / "x-002.svg")]


def test_sample_with_a_primer(tiny_model, lines_npz, tmp_path, capsys):
    primed, plain = tmp_path / "primed.npz", tmp_path / "plain.npz"
    assert run(capsys, "sample", "-o", primed, "--model", tiny_model, *SAMPLE,
               "--prime", lines_npz)[0] == 0
    assert run(capsys, "sample", "-o", plain, "--model", tiny_model, *SAMPLE)[0] == 0
    assert not np.array_equal(read_lines(primed)[0].strokes, read_lines(plain)[0].strokes)


def test_write_text_as_picture_and_data(synth_model, tmp_path, capsys):
    png = tmp_path / "w.png"
    assert run(capsys, "write", "ab ab", "--model", synth_model, "-o", png)[0] == 0
    with Image.open(png) as image:
        assert image.format == "PNG"
    styled = tmp_path / "styled.npz"  # data files take no drawing options like --line-height
    assert run(capsys, "write", "ab ab", "--model", synth_model, "-o", styled, "--style", 3,
               "--width", 2)[0] == 0
    inks = read_lines(styled)
    assert [ink.text for ink in inks] == ["ab", "ab"]
    inkml = tmp_path / "w.inkml"
    assert run(capsys, "write", "ab", "--model", synth_model, "-o", inkml)[0] == 0
    assert [ink.text for ink in read_inkml(inkml)] == ["ab"]


def test_write_takes_pasted_text_and_says_what_it_changed(synth_model, tmp_path, capsys):
    pasted = tmp_path / "pasted.txt"
    pasted.write_text("café\u00a0déjà vu…\r\n", encoding="utf-8")
    out = tmp_path / "w.npz"
    code, _, err = run(capsys, "write", "--file", pasted, "--model", synth_model,
                       "--max-points", 40, "--candidates", 1, "-o", out)
    assert code == 0 and [ink.text for ink in read_lines(out)] == ["cafe deja vu..."]
    assert err.count("handwriter: warning: wrote ") == 1
    assert "é as 'e'" in err and "à as 'a'" in err and "… as '...'" in err
    err = fails(capsys, "write", "ab 😀 ab", "--model", synth_model, "-o", out)
    assert "cannot write '😀' (U+1F600)" in err and len(err.splitlines()) == 1


def test_write_a_letter_on_paper_in_each_plotter_format(synth_model, tmp_path, capsys):
    letter = tmp_path / "letter.txt"
    letter.write_text("ab ab\n\n  abc abc ab\nab.\n")
    fast = ["--model", synth_model, "--max-points", 150, "--candidates", 2, "--file", letter]
    outputs = {}
    for kind in ("svg", "gcode", "hpgl", "png"):
        path = tmp_path / f"letter.{kind}"
        code, out, err = run(capsys, "write", *fast, "--page", "postcard", "-o", path,
                             *(["--show-travel", "--color", "navy"] if kind == "png" else []))
        assert code == 0 and out.startswith(f"{path}: pen-up travel ") and "3/3 lines" in err
        outputs[kind] = path.read_bytes()
    root = ET.fromstring(outputs["svg"])
    assert (root.get("width"), root.get("height")) == ("148mm", "105mm")
    paths = len(root.findall(".//{http://www.w3.org/2000/svg}path"))
    assert paths == outputs["hpgl"].count(b"PD") == outputs["gcode"].count(b"\nG0 X") - 1
    with Image.open(io.BytesIO(outputs["png"])) as image:
        assert image.size == (148 * 8, 105 * 8)
    # a small page takes the letter over several numbered sheets
    code, out, _ = run(capsys, "write", *fast, "--page", "50x30", "--margin", 3, "-o",
                       tmp_path / "small.svg")
    assert code == 0 and len(out.splitlines()) > 1 and (tmp_path / "small-2.svg").exists()


def test_bad_pages_and_empty_letters_are_one_line_errors(synth_model, tiny_model, tmp_path,
                                                         capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    out = ["--model", synth_model, "-o", tmp_path / "x.svg"]
    assert "empty.txt: nothing to write" in fails(capsys, "write", "--file", empty, *out)
    assert "--page: unknown page size 'B9'" in fails(capsys, "write", "ab", "--page", "B9", *out)
    assert "--margin: 80 mm leaves no room" in fails(capsys, "write", "ab", "--page", "A5",
                                                     "--margin", 80, *out)
    assert "not both" in fails(capsys, "write", "ab", "--file", empty, *out)
    assert "a page can be saved as" in fails(capsys, "write", "ab", "--page", "A6", "--model",
                                             synth_model, "--max-points", 20, "-o",
                                             tmp_path / "x.gif")
    assert "nosuch.txt" in fails(capsys, "write", "--file", tmp_path / "nosuch.txt", *out)
    assert "--pen: expected servo or z" in fails(capsys, "write", "ab", "--pen", "laser", "-o",
                                                 tmp_path / "x.gcode", "--model", tiny_model)
    for page in ([], ["--page", "A6"]):  # the moves are drawn on a .png page only
        assert "--show-travel draws the pen-up moves on a page saved as .png" in fails(
            capsys, "write", "ab", *page, "--show-travel", *out)
    assert not list(tmp_path.glob("x*"))
    code, _, err = run(capsys, "write", "ab", "--page", "A6", "--split", "--width", 9,
                       "--max-points", 20, *out)
    assert code == 0 and "--split is for lines without --page" in err
    assert "--width is for lines without --page" in err and "--line-height" not in err
    for pen, lift in (["servo"], "M3 S30"), (["z"], "G0 Z5"), (["z", "--pen-up", 8], "G0 Z8"):
        code, _, _ = run(capsys, "write", "ab", "--pen", *pen, "--max-points", 20, "--model",
                         synth_model, "-o", tmp_path / "lift.gcode")
        gcode = (tmp_path / "lift.gcode").read_text().splitlines()
        assert code == 0 and gcode[2] == lift and gcode.count(lift) > 1  # after each stroke


# ---------------------------------------------------------------- data


def test_data_convert_stats_and_show(lines_npz, tiny_model, tmp_path, capsys):
    copy = tmp_path / "copy.npz"
    code, out, _ = run(capsys, "data", "convert", lines_npz, "-o", copy)
    assert code == 0 and "8 lines" in out
    original, converted = read_lines(lines_npz), read_lines(copy)
    assert [i.text for i in converted] == [i.text for i in original]
    for a, b in zip(original, converted, strict=True):
        np.testing.assert_array_equal(a.strokes, b.strokes)

    inkml = tmp_path / "s.inkml"
    run(capsys, "sample", "-o", inkml, "--model", tiny_model, *SAMPLE)
    assert run(capsys, "data", "convert", inkml, "-o", tmp_path / "from.npz")[0] == 0
    assert [len(i) for i in read_lines(tmp_path / "from.npz")] == [50, 50]
    folder = tmp_path / "inks"  # a folder of .inkml files, one per writer, in name order
    (folder / "b").mkdir(parents=True)
    (folder / "a.inkml").write_bytes(inkml.read_bytes())
    (folder / "b" / "c.inkml").write_bytes(inkml.read_bytes())
    assert run(capsys, "data", "convert", folder, "-o", tmp_path / "folder.npz")[0] == 0
    lines = read_lines(tmp_path / "folder.npz")
    assert [len(i) for i in lines] == [50] * 4
    assert [Path(i.source).name for i in lines] == ["a.inkml"] * 2 + ["c.inkml"] * 2
    (tmp_path / "empty").mkdir()
    said = fails(capsys, "data", "convert", tmp_path / "empty", "-o", tmp_path / "x.npz")
    assert "a folder with no ink" in said and "UNIPEN release's root (with data/)" in said

    code, out, _ = run(capsys, "data", "stats", lines_npz)
    stats = json.loads(out)
    assert code == 0
    assert (stats["lines"], stats["writers"], stats["points"]) == (8, 4, 8 * 60)
    assert stats["points_per_line"]["median"] == 60
    assert stats["characters_per_line"]["mean"] == pytest.approx(np.mean([5, 5, 5, 2]))

    picture = tmp_path / "p.png"
    code, out, _ = run(capsys, "data", "show", lines_npz, "--index", 0, 1, "-o", picture)
    assert code == 0 and "'ab ab'" in out and "'hello'" in out
    with Image.open(picture) as image:
        assert image.format == "PNG"


# ---------------------------------------------------------------- models


def test_eval_prints_json(tiny_model, lines_npz, capsys):
    code, out, _ = run(capsys, "eval", "--model", tiny_model, "--data", lines_npz, "--json")
    result = json.loads(out)
    assert code == 0
    assert set(result) == {"nats_per_sequence", "nats_per_point", "lines", "points"}
    assert result["lines"] == 4 and result["points"] > 0  # the two validation writers
    assert np.isfinite(result["nats_per_point"])
    for shipped in ("unconditional", "synthesis", "sample"):  # named as `sample --model` names them
        code, out, _ = run(capsys, "eval", "--model", shipped, "--data", lines_npz, "--json")
        assert code == 0 and json.loads(out)["lines"] > 0
    code, out, err = run(capsys, "eval", "--model", "synthesis", "--data", lines_npz,
                         "--max-points", 35, "--json")  # prepared: 37, 35, 35, 27 points
    assert code == 0 and json.loads(out)["lines"] == 3
    assert "1 line longer than --max-points 35 left out" in err


def test_eval_all_scores_every_line_of_any_ink_file(tiny_model, lines_npz, tmp_path, capsys):
    splits = {}
    for split in ("train", "valid", "all"):
        code, out, _ = run(capsys, "eval", "--model", tiny_model, "--data", lines_npz,
                           "--split", split, "--json")
        splits[split] = json.loads(out)
    assert splits["all"]["lines"] == 8
    assert splits["all"]["points"] == splits["train"]["points"] + splits["valid"]["points"]
    total = sum(splits[s]["nats_per_sequence"] * splits[s]["lines"] for s in ("train", "valid"))
    assert splits["all"]["nats_per_sequence"] * 8 == pytest.approx(total, rel=1e-5)
    inkml = tmp_path / "mine.inkml"
    write_inkml(inkml, read_lines(lines_npz))
    code, out, _ = run(capsys, "eval", "--model", tiny_model, "--data", inkml, "--split", "all",
                       "--json")
    assert json.loads(out)["lines"] == 8


def test_export_is_smaller_and_loads(tiny_model, tmp_path, capsys):
    small = tmp_path / "small.pt"
    assert run(capsys, "export", tiny_model, "-o", small)[0] == 0
    assert small.stat().st_size < tiny_model.stat().st_size
    net, state = load_model(small)
    original, _ = load_model(tiny_model)
    assert state["optimizer"] is None
    for (name, a), b in zip(net.state_dict().items(), original.state_dict().values(),
                            strict=True):
        assert a.dtype == torch.float32, name
        torch.testing.assert_close(a, b.half().float())
    assert run(capsys, "sample", "-o", tmp_path / "x.npz", "--model", small, *SAMPLE)[0] == 0


def test_train_and_resume(lines_npz, tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--data", lines_npz, "--out", out, "--threads", 1, "--eval-every", 2]
    code, stdout, _ = run(capsys, "train", *flags, "--steps", 2, "--layers", 1, "--hidden", 8,
                          "--mixtures", 2, "--batch-size", 4)
    assert code == 0 and "nats_per_point" in json.loads(stdout.splitlines()[-1])
    assert run(capsys, "train", *flags, "--steps", 3, "--resume")[0] == 0
    assert torch.load(out / "last.pt", weights_only=True)["step"] == 3
    err = fails(capsys, "train", *flags, "--steps", 4, "--resume", "--hidden", 9)
    assert "hidden_size" in err
    kept = (out / "last.pt").read_bytes()
    assert "holds a run already" in fails(capsys, "train", *flags, "--steps", 4)  # not resumed
    assert "at step 3 of --steps 3: nothing left" in fails(capsys, "train", *flags, "--resume")
    assert (out / "last.pt").read_bytes() == kept
    for command in ("train-reader", "train-text"):  # one rule for every trainer
        assert "holds a run already" in fails(capsys, command, "--data", lines_npz, "--out",
                                              out, "--threads", 1)


def test_characters_too_rare_to_learn_are_named_in_training_and_writing(lines_npz, tmp_path,
                                                                        capsys):
    code, _, err = run(capsys, "train", "--synthesis", "--data", lines_npz, "--out",
                       tmp_path / "run", "--steps", 1, "--threads", 1, "--layers", 1, "--hidden",
                       8, "--mixtures", 2, "--batch-size", 2, "--min-char-count", 3)
    assert code == 0  # training text: "ab ab" and "hello", twice each
    assert "4 characters are in the training text fewer than --min-char-count 3" in err
    assert "' eho'" in err
    err = fails(capsys, "write", "be", "--model", tmp_path / "run" / "last.pt", "-o",
                tmp_path / "w.png")
    assert "cannot write 'e' (U+0065): its training text held too few of it" in err


@pytest.mark.parametrize("what", ["density", "attention"])
def test_plots_write_pngs(what, tiny_model, synth_model, tmp_path, capsys):
    png = tmp_path / f"{what}.png"
    argv = (["density", "--model", tiny_model] if what == "density"
            else ["attention", "--text", "ab ab", "--model", synth_model])
    assert run(capsys, "plot", *argv, "-o", png, "--max-points", 30)[0] == 0
    with Image.open(png) as image:
        assert image.format == "PNG"


# ---------------------------------------------------------------- errors


def test_errors_name_the_file_or_the_thing(tiny_model, synth_model, lines_npz, tmp_path,
                                           capsys):
    missing = tmp_path / "missing.pt"
    assert str(missing) in fails(capsys, "sample", "-o", tmp_path / "x.svg", "--model", missing)
    assert "nope.npz" in fails(capsys, "data", "stats", tmp_path / "nope.npz")

    bad = tmp_path / "bad.inkml"
    bad.write_text("<ink>\n<trace>1 2, 3 x</trace>\n</ink>\n")
    assert "bad.inkml:2:" in fails(capsys, "data", "stats", bad)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert "garbage.pt" in fails(capsys, "sample", "-o", tmp_path / "x.svg", "--model", garbage)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    assert "neither the lines.npz layout" in fails(capsys, "data", "stats", tmp_path / "other.npz")
    notzip = tmp_path / "notzip.npz"
    notzip.write_bytes(b"hello")
    assert "notzip.npz" in fails(capsys, "eval", "--model", tiny_model, "--data", notzip)

    err = fails(capsys, "data", "show", lines_npz, "--index", 0, 8, "-o", tmp_path / "p.png")
    assert "--index" in err and "0..7" in err and str(lines_npz) in err
    err = fails(capsys, "write", "ab!", "--model", synth_model, "-o", tmp_path / "w.png")
    assert "'!'" in err
    assert "unconditional" in fails(capsys, "write", "ab", "--model", tiny_model, "-o",
                                    tmp_path / "w.png")
    assert "candidates must be at least 1, got 0" in fails(
        capsys, "write", "ab", "--model", synth_model, "--candidates", 0, "-o", tmp_path / "w.png")
    assert "style drafts must be at least 1, got 0" in fails(
        capsys, "write", "ab", "--model", synth_model, "--style-drafts", 0, "-o",
        tmp_path / "w.png")
    assert "n (lines to write) must be between 1 and 1000, got -1" in fails(
        capsys, "sample", "-o", tmp_path / "x.svg", "--model", tiny_model, "--n", -1)
    for bad in ("-1", "nan", "inf"):  # Graves' bias, refused before it divides or samples
        assert f"bias must be 0 or more, got {float(bad)}" in fails(
            capsys, "sample", "-o", tmp_path / "x.svg", "--model", synth_model, "--bias", bad)
    assert "candidates must be at least 1, got 0" in fails(  # as `write` refuses it
        capsys, "sample", "-o", tmp_path / "x.svg", "--model", synth_model, "--candidates", 0)
    assert "x.txt" in fails(capsys, "sample", "-o", tmp_path / "x.txt", "--model", tiny_model,
                            "--max-points", 5)
    assert "w.pdf: handwriting can be saved as .svg .png .gif .npz .inkml, not '.pdf'" in fails(
        capsys, "write", "ab", "--model", synth_model, "-o", tmp_path / "w.pdf")
    assert "x.txt: converted ink (the lines.npz layout) can be saved as .npz" in fails(
        capsys, "data", "convert", tmp_path / "w.pdf", "-o", tmp_path / "x.txt")
    assert "x.jpg: a figure can be saved as .png .svg .pdf, not '.jpg'" in fails(
        capsys, "plot", "density", "--model", tiny_model, "-o", tmp_path / "x.jpg")
    text = ["write", "--model", synth_model, "-o", tmp_path / "w.png", "--file"]
    assert "--file nope.txt: no such file or directory" in fails(capsys, *text, "nope.txt")
    assert f"--file {tmp_path}: is a directory" in fails(capsys, *text, tmp_path)
    (tmp_path / "picture.gif").write_bytes(b"\x89GIF\r\n")
    assert "picture.gif: not a UTF-8 text file (byte 0)" in fails(capsys, *text,
                                                                  tmp_path / "picture.gif")
    assert "nope.txt: no such file or directory" in fails(
        capsys, "sample", "-o", tmp_path / "x.svg", "--words", "nope.txt")
    assert "--width must be at least 1 character, got 0" in fails(
        capsys, "write", "ab", "--model", synth_model, "--width", 0, "-o", tmp_path / "w.png")
    assert "--steps must be at least 1, got 0" in fails(
        capsys, "train", "--data", lines_npz, "--out", tmp_path / "run", "--steps", 0)
    assert "-o m.png: a model file ends in .pt" in fails(capsys, "export", tiny_model, "-o",
                                                         "m.png")
    for stroke_only in ("unconditional", tiny_model):  # by name or a checkpoint of one
        assert "candidates pick drafts of a text; a stroke-only model writes none" in fails(
            capsys, "sample", "-o", tmp_path / "x.svg", "--model", stroke_only,
            "--candidates", 8)
    (tmp_path / "w.txt").write_text("hello")
    assert "cannot tell the ink format from '.txt'" in fails(
        capsys, "eval", "--model", tiny_model, "--data", tmp_path / "w.txt")
    assert not list(tmp_path.glob("*.png")) + list(tmp_path.glob("*.svg"))
    with pytest.raises(ValueError, match="bias must be 0 or more"):  # --debug after the command
        main(["sample", "-o", str(tmp_path / "x.svg"), "--model", str(synth_model), "--bias",
              "-1", "--debug"])


def test_a_line_cut_short_by_max_points_is_said_and_version_is_printed(synth_model, tmp_path,
                                                                        capsys):
    code, _, err = run(capsys, "write", "abab abab abab", "--model", synth_model,
                       "--max-points", 5, "--candidates", 2, "-o", tmp_path / "w.svg")
    assert code == 0 and "line 1 ('abab abab abab') stopped at 5 points" in err
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("handwriter 0.")


def test_ctrl_c_while_writing_is_said_on_a_line_of_its_own(synth_model, tmp_path, capsys,
                                                           monkeypatch):
    import handwriter.writing as writing

    drawn = writing.draw

    def interrupted_at_the_second_segment(*args, **kwargs):
        if interrupted_at_the_second_segment.calls:
            raise KeyboardInterrupt
        interrupted_at_the_second_segment.calls += 1
        return drawn(*args, **kwargs)

    interrupted_at_the_second_segment.calls = 0
    monkeypatch.setattr(writing, "draw", interrupted_at_the_second_segment)
    code, _, err = run(capsys, "write", "abc abc abc", "--model", synth_model, "--segment", 5,
                       "--candidates", 2, "-o", tmp_path / "w.png")
    assert code == 130 and "lines |" in err  # the bar was shown, then closed
    assert "\nhandwriter: interrupted" in err
    assert not (tmp_path / "w.png").exists()


# ---------------------------------------------------------------- flags


# the defaults each command's help must show: writing text defaults to legible (WRITING)
HELP = {("sample",): [SampleConfig()],
        ("write",): [WRITING, PageConfig(), PlotterConfig(), PenStyle()],
        ("train",): [TrainConfig(), ModelConfig()], ("eval",): [], ("export",): [],
        ("data", "convert"): [], ("data", "stats"): [], ("data", "show"): [],
        ("plot", "density"): [SampleConfig()], ("plot", "attention"): [WRITING]}
NO_FLAG = {("write", "n"), ("train", "alphabet"), ("train", "chars_per_step"),
           ("train", "style_table")} | {("plot", name) for name in ONE_DRAFT}


@pytest.mark.parametrize("command", list(HELP), ids=" ".join)
def test_help_lists_config_flags_with_their_defaults(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--help" in text
    for defaults in HELP[command]:
        for f in dataclasses.fields(defaults):
            if (command[0], f.name) in NO_FLAG:
                continue
            flag = "--" + f.name.replace("_", "-")
            assert flag in text
            value = getattr(defaults, f.name)  # a str as the user types it
            if value is None or value == "":  # its comment says what the default is
                assert "(default: " in field_comments(type(defaults))[f.name], flag
                continue
            shown = f"'{value}'" if isinstance(value, str) else repr(value)
            assert f"(default: {shown})" in text, flag
    if "write" in command:
        assert "(default: 'G21\\nG90')" in text
        assert "with the pen up (default: 30 for a servo, 5 mm for z)" in text
    if "sample" in command:
        assert "(default: 0.0)" in text[text.index("--bias"):]


@dataclasses.dataclass
class Percent:
    share: float = 0.5  # found 48% of the time; 36% at a quarter


def test_a_percent_sign_in_a_field_comment_reaches_the_help(capsys):
    import argparse

    from handwriter.cli import add_config_flags

    parser = argparse.ArgumentParser()
    add_config_flags(parser, Percent)
    parser.print_help()
    assert "found 48% of the time; 36% at a quarter (default: 0.5)" in " ".join(
        capsys.readouterr().out.split())


def test_flags_set_config_fields():
    parser = build_parser()
    args = parser.parse_args(["sample", "-o", "x.svg", "--bias", "2", "--max-points", "9"])
    assert config_from_args(SampleConfig, args) == SampleConfig(bias=2.0, max_points=9)
    args = parser.parse_args(["train", "--hidden", "8", "--no-synthesis", "--lr", "0.5"])
    assert config_from_args(ModelConfig, args) == ModelConfig(hidden_size=8)
    assert config_from_args(TrainConfig, args) == TrainConfig(lr=0.5)
    # configs that share a parser must not share a field name
    model, train = ({f.name for f in dataclasses.fields(c)} for c in (ModelConfig, TrainConfig))
    assert not model & train


# ---------------------------------------------------------------- styles


@pytest.fixture
def styles_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HANDWRITER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "styles"


def wavy_line(i: int, text: str = "") -> Ink:
    """A wavy pen-down line about three line heights wide (60 points), different for each i."""
    x = np.linspace(0, 60, 60)
    return Ink.from_stroke_list([np.stack([x, 10 * np.sin(x / (5 + i))], 1)], text=text)


def note_app_file(path, count: int) -> str:
    """InkML as note apps write it: <ink> inside their own root, a traceGroup per line."""
    groups = "".join("<traceGroup><trace>" + ", ".join(f"{x:g} {y:g}" for x, y in
                                                       wavy_line(i).points) + "</trace>"
                     "</traceGroup>" for i in range(count))
    path.write_text(f'<notes><page><ink xmlns="http://www.w3.org/2003/InkML">{groups}</ink>'
                    "</page></notes>")
    return str(path)


def test_a_text_the_recogniser_reads_nothing_like_is_questioned(styles_folder, synth_model,
                                                                tmp_path, capsys):
    from handwriter.ink import write_inkml
    from handwriter.sample import Writer
    from handwriter.writing import write_page

    inks = write_page(Writer.load(synthesis=True), ["hello there", "good morning"],  # neat
                      SampleConfig(bias=3.0, max_points=900, candidates=1, seed=1))
    for ink, text in zip(inks, ["hello there", "good morning"], strict=True):
        ink.text = text
    write_inkml(tmp_path / "two.inkml", inks)
    add = ["style", "add", "two", tmp_path / "two.inkml", "--model", synth_model, "--no-adapt"]
    code, _, err = run(capsys, *add, "--text", "hello there", "--text", "good morning")
    assert code == 0 and "little like" not in err
    code, _, err = run(capsys, *add, "--replace", "--text", "good morning", "--text",
                       "hello there")  # swapped
    assert code == 0 and err.count("little like") == 2 and "'good morning'" in err


def test_a_style_is_added_listed_shown_written_in_and_removed(styles_folder, synth_model,
                                                                tmp_path, capsys):
    ink = note_app_file(tmp_path / "mine.xml", 2)
    code, out, err = run(capsys, "style", "add", "mine", ink, "--text", "ab ab", "--text",
                         "hello", "--model", synth_model)
    assert code == 0 and "saved style 'mine': 2 lines" in out
    assert all("little like" in line for line in err.splitlines())  # wavy lines, not words
    assert [(i.text, len(i)) for i in read_inkml(styles_folder / "mine.inkml")] == \
        [("ab ab", 60), ("hello", 60)]
    assert run(capsys, "style", "list")[1] == "mine\t2 lines, 120 points\tab ab / hello\n"

    picture, lines = tmp_path / "mine.png", tmp_path / "mine.inkml"
    code, out, _ = run(capsys, "style", "show", "mine", "-o", picture, "--model", synth_model)
    assert code == 0 and out.splitlines() == ["ab ab", "hello", str(picture)]
    with Image.open(picture) as image:  # each line, then its text written in the style
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 400
    assert run(capsys, "style", "show", "mine", "-o", lines)[0] == 0
    assert [i.text for i in read_inkml(lines)] == ["ab ab", "hello"]  # the lines alone

    write = ["write", "ab", "--model", synth_model, "--max-points", 40, "--candidates", 2]
    styled, plain = tmp_path / "styled.npz", tmp_path / "plain.npz"
    assert run(capsys, *write, "--style", "mine", "-o", styled)[0] == 0
    assert run(capsys, *write, "-o", plain)[0] == 0
    assert not np.array_equal(read_lines(styled)[0].strokes, read_lines(plain)[0].strokes)
    svg = tmp_path / "styled.svg"
    assert run(capsys, *write, "--style", "mine", "-o", svg)[0] == 0
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"

    assert run(capsys, "style", "remove", "mine")[1] == "removed style 'mine'\n"
    assert run(capsys, "style", "list")[1] == "" and not list(styles_folder.iterdir())
    assert "no style named 'mine'" in fails(capsys, *write, "--style", "mine", "-o", svg)


def test_bad_styles_are_one_line_errors_that_leave_the_folder_as_it_was(
        styles_folder, synth_model, tmp_path, capsys):
    ink = note_app_file(tmp_path / "mine.xml", 2)
    add = ["style", "add", "mine", ink, "--model", synth_model]
    assert run(capsys, *add, "--text", "ab", "--text", "cd")[0] == 0
    saved = (styles_folder / "mine.inkml").read_bytes()
    one_point = tmp_path / "dot.inkml"
    one_point.write_text('<ink><traceGroup><annotation type="truth">a</annotation>'
                         "<trace>1 1</trace></traceGroup></ink>")
    empty = tmp_path / "empty.inkml"
    empty.write_text("<ink/>")
    big = tmp_path / "page.inkml"  # more than a few lines: refused before any is read
    big.write_text("<ink><trace>" + ", ".join(f"{i} {i % 7}" for i in range(20_001))
                   + "</trace></ink>")
    errors = {
        "a style holds at most 20,000 points of ink (a few lines); this line has 20,001": [
            "style", "add", "big", big, "--model", synth_model],
        "a style named 'mine' exists; --replace replaces it": add,
        "--text given 1 times for 2 lines of ink": [*add[:2], "other", *add[3:], "--text", "ab"],
        "the model cannot write '!' (U+0021), 'A' (U+0041)": [*add, "--replace", "--text", "ab",
                                                                "--text", "Ab!"],
        f"{one_point}: one point is not enough to prime with": [
            "style", "add", "dot", one_point, "--model", synth_model],
        f"{empty}: no ink in the file": ["style", "add", "e", empty, "--model", synth_model],
        f"{tmp_path}: a folder; give the files of your lines": [
            "style", "add", "d", tmp_path, "--model", synth_model],
        "style name '7': numbers are the model's own styles": [*add[:2], "7", *add[3:]],
        "no style named 'nobody'": ["style", "remove", "nobody"],
        "no style named 'ghost'": ["style", "show", "ghost"],
        f"{one_point}: one point is not enough": ["write", "ab", "--model", synth_model, "-o",
                                                  tmp_path / "x.svg", "--prime", one_point],
        "give --style or --prime, not both": ["write", "ab", "--model", synth_model, "-o",
                                              tmp_path / "x.svg", "--prime", ink, "--style", 3],
        "--minutes must be above 0, got 0.0": [
            "style", "add", "solo", note_app_file(tmp_path / "one.xml", 1), "--text", "ab",
            "--model", synth_model, "--minutes", 0],
        "--share must be between 0 and 1, got 1.5": [
            "style", "add", "solo", note_app_file(tmp_path / "one.xml", 1), "--text", "ab",
            "--model", synth_model, "--share", 1.5],
    }
    for message, argv in errors.items():
        err = fails(capsys, *argv)
        assert message in err and len(err.splitlines()) == 1, err
    assert [p.name for p in styles_folder.iterdir()] == ["mine.inkml"]
    assert (styles_folder / "mine.inkml").read_bytes() == saved


def test_a_negative_style_strength_is_a_one_line_error(stats_style_model, synth_model,
                                                       tmp_path, capsys):
    ink = note_app_file(tmp_path / "mine.xml", 1)
    # refused with a real hand, with a numbered style and from nothing alike
    for argv in (["write", "ab", "--model", stats_style_model, "--prime", ink, "--prime-text",
                  "ab ab"], ["write", "ab", "--model", synth_model, "--style", 3],
                 ["sample", "--model", synth_model]):
        err = fails(capsys, *argv, "-o", tmp_path / "x.svg", "--style-strength", -1)
        assert "style strength must be 0 or more, got -1.0" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "x.svg").exists()


def test_three_lines_or_more_are_adapted_to_and_written_in(styles_folder, stats_style_model,
                                                             tmp_path, capsys, monkeypatch):
    texts = ["--text", "ab ab", "--text", "hello", "--text", "ba"]
    add = ["style", "add", "mine", note_app_file(tmp_path / "mine.xml", 3), *texts,
           "--model", stats_style_model]
    code, out, err = run(capsys, *add)
    assert code == 0 and "adapted in" in out and "adapting to your 3 lines" in err
    assert "(40 steps)" in out and "--minutes" not in out  # its minute was enough
    style = load_style_weights("mine")["style"]
    read = Writer.load(stats_style_model).style_of(load_style("mine"))
    assert style.shape == read.shape and not torch.allclose(style, read)
    assert run(capsys, *add, "--replace", "--share", 0)[0] == 0  # no way toward the fit
    assert torch.allclose(load_style_weights("mine")["style"], read, atol=1e-5)
    code, out, _ = run(capsys, *add, "--replace", "--minutes", 1e-5)
    assert code == 0 and "(1 of 40 steps: its time ran out)" in out
    assert "more --minutes (now 1e-05) let it finish" in out
    assert run(capsys, *add, "--replace")[0] == 0
    write = ["write", "ab", "--model", stats_style_model, "--max-points", 40, "--candidates", 1,
             "--style", "mine", "-o"]
    assert run(capsys, *write, tmp_path / "adapted.npz")[0] == 0

    code, out, _ = run(capsys, *add, "--replace", "--no-adapt")
    assert code == 0 and "adapted" not in out and load_style_weights("mine") is None
    assert run(capsys, *write, tmp_path / "read.npz")[0] == 0
    assert not np.array_equal(read_lines(tmp_path / "adapted.npz")[0].strokes,
                              read_lines(tmp_path / "read.npz")[0].strokes)

    code, out, _ = run(capsys, *add[:3], note_app_file(tmp_path / "one.xml", 1), "--text", "ab",
                       *add[-2:], "--replace")
    assert code == 0 and "from 3 lines or more" in out and load_style_weights("mine") is None

    def interrupted(*args, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr("handwriter.adapt.adapt", interrupted)
    saved = {p.name: p.read_bytes() for p in styles_folder.iterdir()}
    assert run(capsys, *add, "--replace")[0] == 130  # Ctrl-C while adapting: nothing changes
    assert {p.name: p.read_bytes() for p in styles_folder.iterdir()} == saved
    assert run(capsys, *add[:2], "other", *add[3:])[0] == 130
    assert not (styles_folder / "other.inkml").exists()


def test_text_that_cannot_be_what_the_ink_says_is_a_warning(styles_folder, synth_model,
                                                            tmp_path, capsys):
    ink = tmp_path / "line.inkml"
    write_inkml(ink, [wavy_line(0)])
    code, _, err = run(capsys, "style", "add", "long", ink, "--text", "a" * 30, "--model",
                       synth_model)
    assert code == 0 and err.startswith(f"handwriter: warning: {ink}: {'a' * 30!r} has 30 "
                                        "characters for ink 3.")
    code, _, err = run(capsys, "write", "ab", "--model", synth_model, "--max-points", 20,
                       "--candidates", 1, "-o", tmp_path / "x.npz", "--prime", ink,
                       "--prime-text", "abc")
    assert code == 0 and "warning" not in err
    code, _, err = run(capsys, "write", "ab", "--model", synth_model, "--max-points", 20,
                       "--candidates", 1, "-o", tmp_path / "x.npz", "--prime", ink,
                       "--prime-text", "a" * 30)
    assert code == 0 and "handwriter: warning: " in err and "30 characters" in err


def test_lines_without_text_are_read_by_the_recogniser(styles_folder, synth_model, tmp_path,
                                                       capsys, monkeypatch):
    ink = tmp_path / "lines.inkml"
    write_inkml(ink, [wavy_line(0, "ab ab"), wavy_line(1)])  # the second line has no text
    read = []
    monkeypatch.setattr(InkReader, "read", lambda self, inks: read.append(inks) or
                        ["hello"] * len(inks))
    code, out, _ = run(capsys, "style", "add", "mine", ink, "--model", synth_model)
    # the line without text is read, then the line with text checked against its reading
    assert code == 0 and [len(batch) for batch in read] == [1, 1] and len(read[0][0]) == 60
    assert f"{ink} line 2: the recogniser reads 'hello'" in out and "--text" in out
    assert [i.text for i in read_inkml(styles_folder / "mine.inkml")] == ["ab ab", "hello"]
    monkeypatch.setattr(InkReader, "read", lambda self, inks: [""])
    assert f"{ink} line 2: no text was read; give it with --text" in fails(
        capsys, "style", "add", "other", ink, "--model", synth_model)


def test_the_api_writes_in_a_saved_style(styles_folder, synth_model, tmp_path, capsys):
    import handwriter

    ink = tmp_path / "line.inkml"
    write_inkml(ink, [wavy_line(0, "ab")])
    assert run(capsys, "style", "add", "mine", ink, "--model", synth_model)[0] == 0
    styled = handwriter.write("ab", style="mine", model=synth_model)
    plain = handwriter.write("ab", model=synth_model)
    assert [i.text for i in styled] == ["ab"]
    assert not np.array_equal(styled[0].strokes[:20], plain[0].strokes[:20])
