"""Text to write when nobody gives any: a character language model of the training lines.

`unprompted` drafts lines of text with it for the synthesis network to write.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import encode_text, writer_split
from .ink import InkError, read_ink
from .model import load_checkpoint
from .sample import Writer


@dataclass
class TextModelConfig:
    alphabet: str = ""          # characters it writes (index 0 marks a line's start and end)
    embed_size: int = 64        # size of each character's vector
    hidden_size: int = 256      # LSTM units per layer
    num_layers: int = 2         # stacked LSTM layers
    dropout: float = 0.2        # between layers and before the output, in training


class TextModel(nn.Module):
    """Characters so far (B, T) -> log-probabilities of the next one (B, T, V + 1)."""

    def __init__(self, cfg: TextModelConfig):
        super().__init__()
        self.cfg = cfg
        vocab = len(cfg.alphabet) + 1
        self.embed = nn.Embedding(vocab, cfg.embed_size)
        self.lstm = nn.LSTM(cfg.embed_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden_size, vocab)

    def forward(self, codes: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, state = self.lstm(self.embed(codes), state)
        return F.log_softmax(self.out(self.drop(h)), -1), state

    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs (boundary, c1..cn), targets (c1..cn, boundary) and their mask, padded."""
        T = max(len(t) for t in texts) + 1
        targets = torch.zeros(len(texts), T, dtype=torch.long)
        mask = torch.zeros(len(texts), T)
        for row, text in enumerate(texts):
            targets[row, :len(text)] = torch.from_numpy(encode_text(text, self.cfg.alphabet))
            mask[row, :len(text) + 1] = 1
        inputs = F.pad(targets[:, :-1], (1, 0))
        return inputs, targets, mask

    def nats(self, texts: list[str]) -> Tensor:
        """-log p(text) of each whole line, its end included: (B,)."""
        inputs, targets, mask = self.encode(texts)
        log_probs, _ = self(inputs)
        return -(log_probs.gather(-1, targets[..., None])[..., 0] * mask).sum(1)

    @torch.no_grad()
    def draft(self, n: int, generator: torch.Generator, temperature: float = 1.0,
              max_chars: int = 80) -> list[str]:
        """`n` new lines of text; the same generator state gives the same lines."""
        codes = torch.zeros(n, 1, dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool)
        chars, state = [], None
        for _ in range(max_chars):
            log_probs, state = self(codes, state)
            logits = log_probs[:, -1] / temperature
            if not chars:  # a line neither starts empty nor with a space
                logits[:, 0] = logits[:, 1 + self.cfg.alphabet.index(" ")] = -math.inf
            codes = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            done |= codes[:, 0] == 0
            chars.append(torch.where(done, 0, codes[:, 0]))
            if done.all():
                break
        texts = ["".join(self.cfg.alphabet[c - 1] for c in row if c).strip()
                 for row in torch.stack(chars, 1).tolist()]
        # a line cut short at max_chars loses its unfinished word
        return [t if ended or " " not in t else t.rsplit(" ", 1)[0].strip()
                for t, ended in zip(texts, done.tolist(), strict=True)]

    @classmethod
    def load(cls, path: str | Path | None = None) -> TextModel:
        """A checkpoint of `train_text_model`, or the one shipped in the package."""
        if path is None:
            path = resources.files("handwriter") / "models" / "text.pt"
        state = load_checkpoint(path)
        if state.get("kind") != "text":
            raise InkError(path, None, "not a text model checkpoint (see `handwriter "
                                       "train-text`)")
        net = cls(TextModelConfig(**state["model_config"]))
        net.load_state_dict({k: v.float() for k, v in state["model"].items()})
        return net.eval()


# ---------------------------------------------------------------- training


@dataclass
class TextTrainConfig:
    data: str = ""              # lines with transcriptions (lines.npz or any ink format)
    out: str = "runs/text"      # run directory: last.pt, best.pt, log.csv
    alphabet_from: str = ""     # a synthesis checkpoint whose alphabet to write in
    # (default: the shipped synthesis model's)
    holdout_texts: bool = False  # drop training lines whose text a validation or test line
    # has, so validation scores text the model never read
    steps: int = 900            # optimiser steps (the shipped text.pt: 900)
    batch_size: int = 64        # lines per step
    lr: float = 2e-3            # Adam learning rate (warm-up, then cosine to a tenth)
    eval_every: int = 100       # steps between validations and checkpoints
    seed: int = 0               # same seed, same run
    threads: int = 0            # torch CPU threads (0: torch's default)


def split_texts(cfg: TextTrainConfig, alphabet: str) -> dict[str, list[str]]:
    """Transcriptions of the writer-disjoint splits that the alphabet can write."""
    if not Path(cfg.data).exists():
        raise FileNotFoundError(f"{cfg.data}: no such data file")
    texts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for ink in read_ink(cfg.data):
        text = ink.text.strip()
        if text and set(text) <= set(alphabet):
            texts[writer_split(ink.writer or ink.source)].append(text)
    if cfg.holdout_texts:
        held = set(texts["valid"]) | set(texts["test"])
        texts["train"] = [t for t in texts["train"] if t not in held]
    for split in ("train", "valid"):
        if not texts[split]:
            raise InkError(cfg.data, None, f"no transcribed lines in the {split!r} split")
    return texts


@torch.no_grad()
def text_nats(net: TextModel, texts: list[str], batch_size: int = 256) -> dict:
    """Nats per line and per character (its end counted as one) of `texts`."""
    was_training = net.training
    net.eval()
    total = sum(net.nats(texts[i:i + batch_size]).sum().item()
                for i in range(0, len(texts), batch_size))
    net.train(was_training)
    chars = sum(len(t) + 1 for t in texts)
    return {"lines": len(texts), "nats_per_line": total / len(texts),
            "nats_per_char": total / chars}


def train_text_model(cfg: TextTrainConfig, model_cfg: TextModelConfig,
                     resume: bool = False) -> dict:
    """Train to `cfg.steps`, keeping the best on validation texts; Ctrl-C saves, then stops."""
    from .train import train_small

    state = load_checkpoint(Path(cfg.out) / "last.pt") if resume else None
    if state:
        model_cfg = TextModelConfig(**state["model_config"])
    else:
        alphabet = Writer.load(cfg.alphabet_from or None, synthesis=True).alphabet
        model_cfg = TextModelConfig(**{**asdict(model_cfg), "alphabet": alphabet})
    texts = split_texts(cfg, model_cfg.alphabet)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = TextModel(model_cfg)

    def batch_loss(rng: np.random.Generator) -> Tensor:
        batch = [texts["train"][i] for i in rng.integers(len(texts["train"]),
                                                          size=cfg.batch_size)]
        return net.nats(batch).sum() / sum(len(t) + 1 for t in batch)

    return train_small(net, cfg, state, "text", "best", 1.0, batch_loss, clip=1.0,
                       validate=lambda: text_nats(net, texts["valid"]),
                       columns={"nats_per_char": ".4f", "nats_per_line": ".2f"})
