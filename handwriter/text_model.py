"""Text to write when nobody gives any: a character language model of the training lines,
held to the words of an English word list.

`unprompted` drafts lines of text with it for the synthesis network to write. Alone, the
character model invents words as often as it spells real ones ("Bour and rever exounting");
its drafts are held to `Vocabulary`'s words (by default SCOWL's common American English,
weighted by how often the training writers used each word), while it still picks which word
comes, and where a mark or the line's end does.
"""

from __future__ import annotations

import functools
import gzip
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import encode_text
from .ink import InkError, read_ink
from .model import load_checkpoint
from .sample import Writer

SENTENCE_MARKS = ",.;:!?"  # may follow a word, before a space or the line's end
WORD_LIST = "english_words.txt.gz"  # in handwriter/models: 40,086 words of SCOWL size 35,
# each with its count in the UNIPEN training transcriptions (models/english_words.LICENSE)
# a listed word's weight: (its count in the list + UNSEEN_COUNT) ** COUNT_POWER; at power 1
# drafts were 22% "the" (training lines 4%) and read "was a the states" (docs/HISTORY.md)
UNSEEN_COUNT = 0.1
COUNT_POWER = 0.5
# Held to whole words, the character model finds fewer places to end a line: its lines ran
# median 34 characters, against 21 for the training lines and 18 unheld; this weight on the
# line's end brings them back to median 20 (docs/HISTORY.md)
LINE_END_WEIGHT = 3.0
MIN_WORDS = 3  # a line has at least this many words where it has room: UNIPEN has lines
# of one word (464 different ones) and of two (654), and a draft that short is often one
ANY_WORDS = "any"  # names no word list: drafts spell whatever the character model spells


class Vocabulary:
    """The words a draft may use, as a prefix tree weighted by how often each word is used. A
    word is written as listed or, when listed in lower case, capitalised: at a line's start,
    where it must be after a sentence's end, and nowhere else ("I" is listed so). A mark of
    `SENTENCE_MARKS` may follow a word."""

    def __init__(self, counts: dict[str, float], alphabet: str):
        self.weight = {w: (c + UNSEEN_COUNT) ** COUNT_POWER for w, c in counts.items()
                       if w and set(w) <= set(alphabet)}
        self.alphabet = alphabet
        self.rest: dict[str, int] = {}  # prefix -> fewest characters more that end a word
        self.mass: dict[str, float] = defaultdict(float)  # prefix -> weight of its words
        following: dict[str, set[str]] = defaultdict(set)
        for word, weight in self.weight.items():
            for i in range(len(word) + 1):
                self.rest[word[:i]] = min(self.rest.get(word[:i], len(word)), len(word) - i)
                self.mass[word[:i]] += weight
                following[word[:i]].update(word[i:i + 1])
        self.following = {prefix: "".join(sorted(c)) for prefix, c in following.items()}

    @classmethod
    def load(cls, alphabet: str, path: str | Path | None = None) -> Vocabulary:
        """The words of a word list that `alphabet` can write: one a line, optionally followed
        by its count in some text (.gz read as gzip); the shipped English list by default."""
        return _vocabulary(alphabet, str(path) if path else "")

    def prior(self, text: str, room: int) -> dict[str, float]:
        """The words' prior for what follows the start of a line `text` with `room` characters
        left: each character that may come next, "" for the end of the line, with its share of
        the weight of the words it leads to (the end weighted by `LINE_END_WEIGHT` more); only
        those that can end on a whole word in time."""
        token = text.rsplit(" ", 1)[-1]
        if token[-1:] in SENTENCE_MARKS and token:
            return self.word_ends(text, room, 1.0)
        forms = [f for f in {token, token[:1].lower() + token[1:]} if f in self.rest]
        mass = sum(self.mass[f] for f in forms)
        shares: dict[str, float] = defaultdict(float)
        for f in forms:
            for c in self.following[f]:
                if self.rest[f + c] < room:
                    shares[c] += self.mass[f + c] / mass
        if not text or text.endswith((". ", "! ", "? ")):  # a line or a sentence starts
            capitals = {c.upper(): s for c, s in shares.items()
                        if c.islower() and c.upper() in self.alphabet}
            if text and capitals:  # after a sentence's end, only capitals
                shares = defaultdict(float, {c: s for c, s in shares.items() if c.isupper()})
            for c, share in capitals.items():
                shares[c] += share
        ended = sum(self.weight.get(f, 0.0) for f in forms if f == token or f.islower()) / mass
        if ended:
            shares.update(dict.fromkeys(SENTENCE_MARKS, ended), **self.word_ends(text, room, ended))
        return {c: s for c, s in shares.items() if c in self.alphabet or c == ""}

    def word_ends(self, text: str, room: int, share: float) -> dict[str, float]:
        """After a whole word (and its mark): a space if another word fits, the line's end if it
        has `MIN_WORDS` or no room for more; each with the ending word's `share`."""
        more = room > self.rest[""]
        ends = {" ": share} if more else {}
        if not more or text.count(" ") + 1 >= MIN_WORDS:
            ends[""] = share * LINE_END_WEIGHT
        return ends


@functools.cache
def _vocabulary(alphabet: str, path: str) -> Vocabulary:
    """`Vocabulary.load`, built once per word list and alphabet (it takes a fraction of a
    second)."""
    source = Path(path) if path else resources.files("handwriter") / "models" / WORD_LIST
    with source.open("rb") as f:
        data = gzip.decompress(f.read()) if str(source).endswith(".gz") else f.read()
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InkError(source, None, "a word list is UTF-8 text") from e
    counts = {}
    for number, line in enumerate(lines, 1):
        word, *count = line.split() or [""]
        if not word or len(count) > 1 or count and not count[0].isdigit():
            raise InkError(source, number, f"expected a word and maybe its count, got {line!r}")
        counts[word] = float(count[0]) if count else 0.0
    vocabulary = Vocabulary(counts, alphabet)
    if not vocabulary.weight:
        raise InkError(source, None, "no word in this list can be written in the text "
                                     "model's alphabet")
    return vocabulary


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
        self.vocabulary: Vocabulary | None = None  # the words drafts hold to (None: any)

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
        """`n` new lines of text, of the words of `self.vocabulary` when it has one; the same
        generator state gives the same lines."""
        if self.vocabulary is not None and max_chars < self.vocabulary.rest[""]:
            raise ValueError(f"a line of {max_chars} characters holds no word of the word list "
                             f"(the shortest has {self.vocabulary.rest['']}): allow more points")
        lines, done, codes, state = [""] * n, [False] * n, torch.zeros(n, 1, dtype=torch.long), None
        for step in range(max_chars):
            log_probs, state = self(codes, state)
            logits = log_probs[:, -1] / temperature
            logits = logits + self.prior(lines, max_chars - step)
            codes = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            for row, code in enumerate(codes[:, 0].tolist()):
                done[row] = done[row] or code == 0
                lines[row] += "" if done[row] else self.cfg.alphabet[code - 1]
            if all(done):
                break
        if self.vocabulary is not None:  # every line ends on a whole word, within max_chars
            return lines
        # a line cut short at max_chars loses its unfinished word
        return [(t if ended or " " not in t else t.rsplit(" ", 1)[0]).strip()
                for t, ended in zip(lines, done, strict=True)]

    def prior(self, lines: list[str], room: int) -> Tensor:
        """Log-weights to add to the next code's logits after each of `lines`, with `room`
        characters left (-inf: not allowed): (B, V + 1). A line neither starts empty nor with
        a space; with a vocabulary it holds to its words, weighted by `Vocabulary.prior`."""
        prior = torch.zeros(len(lines), len(self.cfg.alphabet) + 1)
        for row, text in enumerate(lines):
            if self.vocabulary is not None:
                shares = self.vocabulary.prior(text, room)
                prior[row] = -math.inf
                codes = [1 + self.cfg.alphabet.index(c) if c else 0 for c in shares]
                prior[row, codes] = torch.tensor(list(shares.values())).log()
            elif not text:
                prior[row, 0] = prior[row, 1 + self.cfg.alphabet.index(" ")] = -math.inf
        return prior

    @classmethod
    def load(cls, path: str | Path | None = None, words: str | Path | None = None) -> TextModel:
        """A checkpoint of `train_text_model`, or the one shipped in the package, drafting the
        words of a word list (`Vocabulary.load`; the shipped English one by default), or of
        none if `words` is `ANY_WORDS`."""
        if path is None:
            path = resources.files("handwriter") / "models" / "text.pt"
        state = load_checkpoint(path)
        if state.get("kind") != "text":
            raise InkError(path, None, "not a text model checkpoint (see `handwriter "
                                       "train-text`)")
        net = cls(TextModelConfig(**state["model_config"]))
        net.load_state_dict({k: v.float() for k, v in state["model"].items()})
        if words != ANY_WORDS:
            net.vocabulary = Vocabulary.load(net.cfg.alphabet, words)
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
    """Transcriptions that the alphabet can write, in the splits training the handwriting
    models makes of the same file (writer-disjoint where it has the writers)."""
    from .train import TrainConfig, held_out

    if not Path(cfg.data).exists():
        raise FileNotFoundError(f"{cfg.data}: no such data file")
    texts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    inks = read_ink(cfg.data)
    held = held_out(TrainConfig(data=cfg.data), [ink.writer or ink.source for ink in inks],
                    tuple(texts))
    for ink, split in zip(inks, held, strict=True):
        text = ink.text.strip()
        if text and set(text) <= set(alphabet):
            texts[split].append(text)
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
    from .train import run_state, train_small

    state = run_state(cfg.out, resume, cfg.steps)
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
