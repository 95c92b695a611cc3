"""Reading ink back: a small online handwriting recogniser (bidirectional LSTM + CTC).

It lets `write` keep the draft that best reads as its text, and it puts a number on
legibility: the character error rate of what the synthesis model writes.
Alex Graves et al., "Connectionist Temporal Classification" (ICML 2006).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .data import (
    MODEL_UNITS,
    Batch,
    build_alphabet,
    collate,
    encode_text,
    offset_scale_of,
    prepared,
)
from .ink import Ink, InkError
from .model import load_checkpoint


@dataclass
class ReaderConfig:
    num_layers: int = 2         # bidirectional LSTM layers
    hidden_size: int = 128      # units per direction
    stride: int = 3             # points per frame: the data has ~13 points per character
    alphabet: str = ""          # characters it reads (index 0: unknown; the last: CTC blank)


class Reader(nn.Module):
    """Pen offsets (B, T, 3) -> per-frame log-probabilities of each character or blank."""

    def __init__(self, cfg: ReaderConfig):
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(3 * cfg.stride, cfg.hidden_size, cfg.num_layers, batch_first=True,
                            bidirectional=True)
        self.out = nn.Linear(2 * cfg.hidden_size, len(cfg.alphabet) + 2)

    @property
    def blank(self) -> int:
        return len(self.cfg.alphabet) + 1

    def forward(self, strokes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, 3) scaled offsets and their lengths -> (B, F, C) log-probs and F per line."""
        B, T, _ = strokes.shape
        s = self.cfg.stride
        strokes = F.pad(strokes, (0, 0, 0, -T % s))
        frames = strokes.reshape(B, -1, 3 * s)
        frame_lengths = (lengths + s - 1) // s
        packed = pack_padded_sequence(frames, frame_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True,
                                     total_length=frames.shape[1])
        return F.log_softmax(self.out(out), -1), frame_lengths


def text_nll(log_probs: Tensor, frame_lengths: Tensor, text: Tensor, text_mask: Tensor,
             blank: int, zero_infinity: bool = False) -> Tensor:
    """-log p(text | ink) per line, in nats (CTC).

    Ink with too few frames for its text has no alignment: infinity, or 0 with
    `zero_infinity` (for training, where an infinite loss would make every gradient NaN).
    """
    return F.ctc_loss(log_probs.transpose(0, 1).float(), text, frame_lengths,
                      text_mask.sum(1).long(), blank=blank, reduction="none",
                      zero_infinity=zero_infinity)


def greedy_decode(log_probs: Tensor, frame_lengths: Tensor, alphabet: str,
                  blank: int) -> list[str]:
    """Best path: the likeliest symbol per frame, repeats merged, blanks dropped."""
    texts = []
    for best, n in zip(log_probs.argmax(-1).tolist(), frame_lengths.tolist(), strict=True):
        chars, previous = [], blank
        for k in best[:n]:
            if k != previous and k != blank:
                chars.append(alphabet[k - 1] if k > 0 else "?")
            previous = k
        texts.append("".join(chars))
    return texts


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


class InkReader:
    """A trained Reader with its preprocessing: reads ink, scores it against a text."""

    def __init__(self, net: Reader, offset_scale: float, resample_step: float = 0.2):
        self.net = net.eval()
        self.offset_scale = offset_scale
        self.resample_step = resample_step

    @classmethod
    def load(cls, path: str | Path | None = None) -> InkReader:
        """A reader checkpoint, or the one shipped in the package when `path` is None."""
        if path is None:
            path = resources.files("handwriter") / "models" / "reader.pt"
            if not path.is_file():
                raise FileNotFoundError(f"{path}: the shipped reader is missing from the package")
        state = load_checkpoint(path)
        if state.get("kind") != "reader":
            raise InkError(path, None, "not a reader checkpoint (see `handwriter train-reader`)")
        net = Reader(ReaderConfig(**state["model_config"]))
        net.load_state_dict({k: v.float() for k, v in state["model"].items()})
        step = (state.get("train_config") or {}).get("resample_step", 0.2)
        return cls(net, float(state["offset_scale"]), float(step))

    @torch.inference_mode()
    def _run(self, inks: list[Ink], texts: list[str] | None = None
             ) -> tuple[Tensor, Tensor, Batch | None, list[bool]]:
        """Log-probs of the lines with ink, their batch (with `texts`), and which lines."""
        lines = [prepared(ink, self.resample_step) for ink in inks]
        has_ink = [s is not None and len(s) > 0 for s in lines]
        if not any(has_ink):
            return torch.zeros(0, 0, self.net.blank + 1), torch.zeros(0), None, has_ink
        kept = [i for i, ok in enumerate(has_ink) if ok]
        codes = ([encode_text(texts[i], self.net.cfg.alphabet) for i in kept]
                 if texts is not None else None)
        batch = collate([lines[i] for i in kept], codes, self.offset_scale)
        return *self.net(batch.strokes_out, batch.mask.sum(1).long()), batch, has_ink

    def read(self, inks: list[Ink]) -> list[str]:
        """The text of each line ("" for a line without ink)."""
        log_probs, n, _, has_ink = self._run(inks)
        texts = iter(greedy_decode(log_probs, n, self.net.cfg.alphabet, self.net.blank))
        return [next(texts) if ok else "" for ok in has_ink]

    def nats_per_char(self, inks: list[Ink], texts: list[str]) -> np.ndarray:
        """-log p(text | ink) / len(text) per line: the lower, the better it reads as `text`."""
        log_probs, n, batch, has_ink = self._run(inks, texts)
        out = np.full(len(inks), np.inf)
        if batch is not None:
            nll = text_nll(log_probs, n, batch.text, batch.text_mask, self.net.blank)
            out[np.flatnonzero(has_ink)] = (nll / batch.text_mask.sum(1).clamp(min=1)).numpy()
        return out


# ---------------------------------------------------------------- training


@dataclass
class ReaderTrainConfig:
    data: str = ""               # lines.npz with transcriptions
    out: str = "runs/reader"     # run directory: last.pt, best.pt, log.csv
    steps: int = 3000            # optimiser steps
    batch_size: int = 32         # lines per step
    max_points: int = 700        # longer lines are skipped
    lr: float = 2e-3             # Adam, cosine decay to a tenth
    distortion: float = 0.1      # random slant and stretch (data.distort): other hands
    eval_every: int = 500        # validate (character error rate) every N steps
    seed: int = 0                # batches, initial weights
    threads: int = 0             # torch threads; 0 = all cores
    resample_step: float = 0.2   # as in training the writer (see TrainConfig)
    valid_percent: int = 5       # writers held out for validation, as in TrainConfig
    test_percent: int = 5        # writers held out for testing


def train_reader(cfg: ReaderTrainConfig, model_cfg: ReaderConfig, resume: bool = False) -> dict:
    """Plain CTC training on the writer-disjoint split; keeps the best validation CER.

    Ctrl-C (or SIGTERM) saves OUT/last.pt; `resume` continues it exactly.
    """
    from .train import TrainConfig, line_set, load_splits, run_state, train_small

    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    state = run_state(cfg.out, resume, cfg.steps)
    split_cfg = TrainConfig(data=cfg.data, synthesis=True, max_points=cfg.max_points,
                            resample_step=cfg.resample_step, valid_percent=cfg.valid_percent,
                            test_percent=cfg.test_percent)
    splits = load_splits(split_cfg, "train", "valid")
    if state:
        model_cfg = ReaderConfig(**state["model_config"])
    else:
        alphabet = build_alphabet([t for _, t, _ in splits["train"]])
        model_cfg = ReaderConfig(**{**asdict(model_cfg), "alphabet": alphabet})
    train_set = line_set(splits["train"], model_cfg.alphabet)
    valid = [Ink(s, text=t, meta={"units": MODEL_UNITS}) for s, t, _ in splits["valid"]]
    offset_scale = state["offset_scale"] if state else offset_scale_of(train_set.strokes)
    torch.manual_seed(cfg.seed)
    net = Reader(model_cfg)

    def batch_loss(rng: np.random.Generator) -> Tensor:
        batch = train_set.sample(rng, cfg.batch_size, cfg.max_points, offset_scale,
                                 crop=False, distortion=cfg.distortion)
        log_probs, n = net(batch.strokes_out, batch.mask.sum(1).long())
        nll = text_nll(log_probs, n, batch.text, batch.text_mask, net.blank, zero_infinity=True)
        return nll.sum() / batch.text_mask.sum()

    def validate() -> dict:
        return character_error_rate(InkReader(net, offset_scale, cfg.resample_step), valid)

    return train_small(net, cfg, state, "reader", "best_cer", offset_scale, batch_loss,
                       clip=3.0, validate=validate, columns={"cer": ".4f"})


def character_error_rate(reader: InkReader, inks: list[Ink], batch_size: int = 64) -> dict:
    """Edit distance of what is read to each ink's text, over all characters."""
    errors = chars = 0
    for start in range(0, len(inks), batch_size):
        chunk = inks[start:start + batch_size]
        for text, ink in zip(reader.read(chunk), chunk, strict=True):
            errors += edit_distance(text, ink.text)
            chars += len(ink.text)
    return {"cer": errors / max(chars, 1), "lines": len(inks), "characters": chars}
