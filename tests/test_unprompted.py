"""`sample`'s two steps: the character model drafts each line's text, the synthesis model
writes it."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from handwriter.cli import main
from handwriter.ink import read_ink, read_lines
from handwriter.sample import SampleConfig, Writer
from handwriter.text_model import TextModel, form_of, training_lines
from handwriter.unprompted import from_nothing, write_from_nothing

UNIPEN = Path(__file__).parents[2] / "shared" / "data" / "unipen" / "lines.npz"


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
    said = capsys.readouterr().err.splitlines()  # each line's drafted text, said as written
    assert said[-3:] == [f"line {i}: {ink.text}" for i, ink in enumerate(first, 1)]


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


def test_the_shipped_drafter_writes_english_lines_of_its_own():
    text_model = TextModel.load()
    words = {w.lower() for w in text_model.vocabulary.weight}
    drafts = [t for bias in (0.0, 0.5) for t in text_model.draft(
        200, torch.Generator().manual_seed(0), 1 / (1 + bias), SampleConfig().max_points // 15)]
    forms = {f.lower() for f in training_lines()[0]}  # "I" fills a lower-case slot as "I"
    assert all(form_of(t).lower() in forms for t in drafts)  # each in a training line's form
    capitals = np.mean([any(c.isupper() for c in t) for t in drafts])
    assert 0.5 < capitals < 0.9  # training lines: 55% have a capital
    tokens = [w for t in drafts for w in re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)*", t)]
    assert all(w.lower() in words for w in tokens)
    assert 3 <= len(tokens) / len(drafts) <= 6  # training lines: 5.4 words on average
    if not UNIPEN.exists():
        pytest.skip(f"{UNIPEN} is not here: the drafts were not checked against its lines")
    with np.load(UNIPEN, allow_pickle=False) as data:
        transcriptions = {str(t).strip() for t in data["text"]}
    assert not set(drafts) & transcriptions
    common = {w for t in transcriptions for w in re.findall(r"[a-z]{4,}", t.lower())}
    drafted = [w for t in drafts for w in re.findall(r"[a-z]{4,}", t.lower())]
    assert np.mean([w in common for w in drafted]) > 0.5


@pytest.mark.parametrize("model, kind", [([], ".npz"), (["--model", "unconditional"], ".svg")])
def test_a_seed_writes_the_same_ink_byte_for_byte_in_a_new_process(model, kind, tmp_path):
    """The seed's promise for the shipped models, each run a fresh process (its own hash seed)."""
    paths = [tmp_path / f"{run}{kind}" for run in range(2)]
    for run, path in enumerate(paths):
        subprocess.run([sys.executable, "-c", "import sys; from handwriter.cli import main; "
                        "sys.exit(main(sys.argv[1:]))", "sample", "-o", str(path), *model,
                        "--seed", "7", "--n", "2", "--bias", "0.5", "--max-points", "150"],
                       check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": str(run), "OMP_NUM_THREADS": "1"})
    assert paths[0].read_bytes() == paths[1].read_bytes() and paths[0].stat().st_size > 500


def test_sample_writes_with_its_own_network_and_write_with_synthesis():
    """`sample` defaults to the shipped "sample" network, not the one `write` uses."""
    cfg = SampleConfig(n=1, seed=3, max_points=80)
    by_default, by_name, by_write = (from_nothing(cfg, model)[0] for model in
                                     (None, "sample", "synthesis"))
    assert np.array_equal(by_default.strokes, by_name.strokes)
    assert by_default.text == by_write.text  # the same draft, in other ink
    assert not np.allclose(by_default.strokes[:20], by_write.strokes[:20])
