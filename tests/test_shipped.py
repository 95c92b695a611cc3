"""The models inside the package: what the README's first command relies on."""

from importlib import resources

import numpy as np
import torch
from PIL import Image

from handwriter.cli import main
from handwriter.ink import Ink
from handwriter.reader import InkReader, edit_distance
from handwriter.sample import WRITING, SampleConfig, Writer, generate
from handwriter.unprompted import sample_lines
from handwriter.writing import write_page


def test_readme_first_command_writes_handwriting_with_the_shipped_model(tmp_path):
    out = tmp_path / "sample.png"
    assert main(["sample", "-o", str(out), "--bias", "0.5", "--n", "2", "--max-points", "300"]) == 0
    pixels = np.asarray(Image.open(out).convert("L"))
    assert (pixels < 128).mean() > 0.005  # there is ink on the page
    inks = sample_lines(n=4, bias=0.5, seed=0) + sample_lines(n=4, bias=0.5, seed=1)
    assert all(ink.text for ink in inks)  # drafted text, written to its end on most lines
    assert sum(ink.meta["finished"] for ink in inks) >= 6  # 22 of 24 over seeds 0-5


def test_shipped_synthesis_model_writes_text_and_stops(tmp_path):
    writer = Writer.load(synthesis=True)
    assert set("The quick brown fox jumps over the lazy dog.") <= set(writer.alphabet)
    inks, phis = generate(writer, SampleConfig(bias=1.0, max_points=800), ["hello world"])
    assert inks[0].meta["finished"] and len(inks[0]) < 400  # Graves' stop rule, not the cap
    assert phis[0][-1].argmax() >= len("hello world") - 2   # the window reached the end
    assert main(["write", "hello world", "-o", str(tmp_path / "w.svg"), "--bias", "1"]) == 0


def test_shipped_models_are_small_fp16_checkpoints():
    for name in ("unconditional.pt", "synthesis.pt", "reader.pt", "text.pt"):
        path = resources.files("handwriter") / "models" / name
        assert path.stat().st_size < 20e6
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert all(v.dtype == torch.float16 for v in state["model"].values()
                   if v.is_floating_point())
    for synthesis in (False, True):
        writer = Writer.load(synthesis=synthesis)
        assert writer.checkpoint["optimizer"] is None
        assert writer.checkpoint["valid"]["nats_per_point"] < 0


def test_shipped_reader_reads_what_the_shipped_writer_writes():
    reader = InkReader.load()
    text = "hello world"
    ink, = write_page(Writer.load(synthesis=True), [text], WRITING, reader=reader)
    read, = reader.read([ink])
    assert edit_distance(read, text) <= 2, read   # legible, to a machine at least
    nats = reader.nats_per_char([ink, ink], [text, "jumbled up"])
    assert nats[0] < nats[1]
    assert reader.read([Ink(np.zeros((0, 3), np.float32))]) == [""]
