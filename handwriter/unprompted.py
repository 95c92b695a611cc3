"""Handwriting from nothing (`handwriter sample`): a text drafted, then written.

`sample` writes from nothing in two steps: the character model (`text_model`) drafts a line
of text, the synthesis network writes it (`write_from_nothing`), in a hand of its own for
each seed. The stroke-only network of Graves section 4 has to learn spelling, words and
letter shapes from the pen alone; on UNIPEN it writes letter-like marks, not words
(docs/HISTORY.md). The two-step model is still a model of ink alone, p(ink) = sum over texts
of p(text) p(ink | text), so its likelihood of a line is at least that of the line's true
text: log p(ink) >= log p(text) + log p(ink | text) (`bench/unconditional_nll.py`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .ink import Ink
from .reader import InkReader
from .sample import SampleConfig, Writer, generate
from .text_model import TextModel
from .writing import in_style, write_lines_together

# room a drafted line leaves its ink: real lines take a median 14 points a character, the
# shipped network 11 (p90 17) at bias 0
POINTS_PER_CHAR = 15


def sample_lines(n: int = 1, bias: float = SampleConfig.bias, seed: int = 0,
                 model: str | Path | None = None, candidates: int = SampleConfig.candidates
                 ) -> list[Ink]:
    """`n` new lines of handwriting from nothing, by the shipped models unless `model` (see
    `from_nothing`), as `handwriter sample` writes them; `candidates` 8 for legible words."""
    return from_nothing(SampleConfig(n=n, seed=seed, bias=bias, candidates=candidates), model)


def from_nothing(cfg: SampleConfig, model: str | Path | None = None,
                 text_model: str | Path | None = None, primer: Ink | None = None,
                 words: str | Path | None = None) -> list[Ink]:
    """`cfg.n` new lines by the shipped models, or by `model`: a synthesis checkpoint writes
    text drafted from `words` (`write_from_nothing`, `TextModel.load`), an unconditional one
    strokes alone (Graves section 4). By default the shipped "sample" network writes: trained
    with dropout and distortion, its lines pass for real more often than "synthesis"'s, which
    `write` uses for legibility (docs/MODELS.md); "unconditional" names the stroke-only one."""
    writer = Writer.load(model or "sample")
    if writer.alphabet:
        return write_from_nothing(writer, TextModel.load(text_model, words), cfg, primer)
    if cfg.candidates > 1:
        raise ValueError("candidates pick drafts of a text; a stroke-only model writes none")
    return generate(writer, cfg, primer=primer)[0]


def write_from_nothing(writer: Writer, text_model: TextModel, cfg: SampleConfig,
                       primer: Ink | None = None) -> list[Ink]:
    """`cfg.n` new lines: texts drafted by `text_model`, written by the synthesis `writer`
    (in the primer's hand when given), both from one seeded generator; each ink keeps its text.
    With `cfg.candidates` above 1 the shipped reader picks drafts, as `write` does."""
    if writer.style_net is None and primer is not None:
        raise ValueError("priming a drafted line needs a synthesis model with a style input "
                         "(the shipped one has it)")
    generator = torch.Generator().manual_seed(cfg.seed)
    writer, _, _ = in_style(writer, primer, "", cfg.style_strength)
    texts = draft_texts(text_model, writer, cfg, generator)
    if cfg.candidates > 1:  # as `write` does: each segment the draft read best as its text
        return write_lines_together(writer, texts, cfg, reader=InkReader.load(),
                                    generator=generator)
    return generate(writer, cfg, texts, generator=generator)[0]


def draft_texts(text_model: TextModel, writer: Writer, cfg: SampleConfig,
                generator: torch.Generator) -> list[str]:
    """`cfg.n` lines of text for `writer` to write, each at most a fifteenth of `cfg.max_points`
    characters long (real lines have a median 14 points per character), so it has room to end.

    Graves' bias sharpens the text as it does the ink: characters are drawn at temperature
    `cfg.temperature / (1 + cfg.bias)`, so neater ink spells more real words.
    """
    if cfg.n < 1:
        raise ValueError(f"n (lines to write) must be at least 1, got {cfg.n}")
    texts = text_model.draft(cfg.n, generator, cfg.temperature / (1 + cfg.bias),
                             max(1, cfg.max_points // POINTS_PER_CHAR))
    unknown = set("".join(texts)) - set(writer.alphabet)
    if unknown:
        raise ValueError(f"the text model writes {''.join(sorted(unknown))!r}, which the "
                         "synthesis model cannot: they were trained with different alphabets")
    return texts
