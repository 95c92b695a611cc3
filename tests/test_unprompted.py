"""`sample`'s two steps: the character model drafts each line's text, the synthesis model
writes it."""

import numpy as np
import pytest

from handwriter.cli import main
from handwriter.ink import read_ink, read_lines
from handwriter.sample import SampleConfig, Writer
from handwriter.unprompted import write_from_nothing


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
