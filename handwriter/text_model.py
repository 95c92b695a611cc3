"""Text to write when nobody gives any: a character language model of the training lines,
held to the words of an English word list.

`unprompted` drafts lines of text with it for the synthesis network to write. Alone, the
character model invents words as often as it spells real ones ("Bour and rever exounting"),
so its drafts hold to the words of `Vocabulary` (by default SCOWL's common American English,
weighted by how often the training writers used each word), the character model picking
which fills each place. The places are a real line's: each draft takes the form of a
training writer's line (`form_of`: where its words of which length and case, its digits,
marks and end fall), and a line's form shows in its ink (docs/HISTORY.md).
"""

from __future__ import annotations

import bisect
import functools
import gzip
import hashlib
import math
import re
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

WORD_LIST = "english_words.txt.gz"  # in handwriter/models: 40,086 words of SCOWL size 35,
# each with its count in the UNIPEN training transcriptions (models/english_words.LICENSE)
TRAINING_LINES = "training_lines.txt.gz"  # in handwriter/models: each of those transcriptions'
# form (`form_of`) and a digest of its text (`digest`), tab apart (docs/word_list.py makes both)
COPY_TRIES = 20  # drafts of a line at most, while each is a training line
# a listed word's weight: (its count in the list + UNSEEN_COUNT) ** COUNT_POWER; at power 1
# free drafts were 22% "the" (training lines 4%), and drafts in forms lean on UNIPEN's prompts
# ("quick brownest buying passed dog,"), no better read (docs/HISTORY.md)
UNSEEN_COUNT = 0.1
COUNT_POWER = 0.5
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")  # a word of a transcription ("I'm" is one)
SLOT = re.compile(r"[aA]+")  # a word's place in a form
CASES = {"a": lambda w: w, "A": lambda w: w[:1].upper() + w[1:], "AA": str.upper}  # a slot's
# case: lower (as listed: "I" stays so), capitalised, or in capitals
DIGITS = set("0123456789")
ANY_WORDS = "any"  # names no word list: drafts spell whatever the character model spells


def form_of(text: str) -> str:
    """A line's form: each word as `a`s of its length, led by an `A` if capitalised (all `A`s
    in capitals), each digit a `9`, marks and spaces as they are ("Hi, I'm 42" -> "Aa, Aaa 99")."""
    def slot(word: re.Match) -> str:
        w = word.group(0)
        return "A" * len(w) if len(w) > 1 and w.isupper() else (
            ("A" if w[0].isupper() else "a") + "a" * (len(w) - 1))
    return re.sub(r"[0-9]", "9", WORD.sub(slot, text))


def digest(text: str) -> str:
    """A line's text in 16 hex digits: enough to know a training line without shipping it."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


@functools.cache
def training_lines() -> tuple[tuple[str, ...], frozenset[str]]:
    """The training writers' lines as shipped (`TRAINING_LINES`): their forms, one per line,
    and their texts' digests."""
    source = resources.files("handwriter") / "models" / TRAINING_LINES
    rows = [row.split("\t") for row in gzip.decompress(source.read_bytes()).decode().splitlines()]
    return tuple(form for form, _ in rows), frozenset(d for _, d in rows)


class Vocabulary:
    """The words a draft may use, each weighted by how often it is used, found by the slot of
    a line's form that they fill: its length, and its case (`CASES`)."""

    def __init__(self, counts: dict[str, float], alphabet: str):
        self.weight = {w: (c + UNSEEN_COUNT) ** COUNT_POWER for w, c in counts.items()
                       if w and set(w) <= set(alphabet)}
        self.alphabet = alphabet
        self.by_length: dict[int, list[str]] = defaultdict(list)
        for word in self.weight:
            self.by_length[len(word)].append(word)
        self.slots: dict[tuple[str, int], tuple[list[str], np.ndarray, str]] = {}

    @classmethod
    def load(cls, alphabet: str, path: str | Path | None = None) -> Vocabulary:
        """The words of a word list that `alphabet` can write: one a line, optionally followed
        by its count in some text (.gz read as gzip); the shipped English list by default."""
        return _vocabulary(alphabet, str(path) if path else "")

    def spellings(self, slot: str) -> tuple[list[str], np.ndarray, str]:
        """The words that fill `slot`, spelt in its case and sorted, their cumulative weights
        (from 0), and the letters they use; found once per case and length."""
        key = ("AA" if len(slot) > 1 and slot.isupper() else slot[0], len(slot))
        if key not in self.slots:
            spelt: dict[str, float] = defaultdict(float)
            for listed in self.by_length[key[1]]:
                word = CASES[key[0]](listed)
                if set(word) <= set(self.alphabet):
                    spelt[word] += self.weight[listed]
            words = sorted(spelt)
            self.slots[key] = (words, np.r_[0.0, np.cumsum([spelt[w] for w in words])],
                               "".join(sorted(set("".join(words)))))
        return self.slots[key]

    def letters(self, slot: str, written: str) -> dict[str, float]:
        """Each letter that may follow `written` in a word filling `slot`, with the weight of
        the words it leads to."""
        words, weights, letters = self.spellings(slot)
        shares = {}
        for c in letters:
            start = bisect.bisect_left(words, written + c)
            end = bisect.bisect_left(words, written + c + "\U0010ffff")
            if end > start:
                shares[c] = float(weights[end] - weights[start])
        return shares

    @functools.cached_property
    def forms(self) -> tuple[str, ...]:
        """The training lines' forms (`training_lines`) that have a word and that these words
        fill, found once."""
        return tuple(f for f in training_lines()[0] if SLOT.search(f) and self.fills(f))

    def fills(self, form: str) -> bool:
        """Whether a word fills each slot of `form` and the alphabet has its other characters."""
        needs = set(SLOT.sub("", form).replace("9", "")) | (DIGITS if "9" in form else set())
        return needs <= set(self.alphabet) and all(self.spellings(s)[0] for s in SLOT.findall(form))


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
        """`n` new lines of text of at most `max_chars` characters, none a training writer's
        line (one that is gets drafted again); the same generator state gives the same lines.
        With `self.vocabulary`, each line takes the form of a training writer's line (`forms`)
        and its words from the list."""
        lines, rows = [""] * n, list(range(n))
        for _ in range(COPY_TRIES):
            for row, text in zip(rows, self.draft_once(len(rows), generator, temperature,
                                                       max_chars), strict=True):
                lines[row] = text
            rows = [row for row in rows if digest(lines[row]) in training_lines()[1]]
            if not rows:
                return lines
        raise ValueError(f"{COPY_TRIES} drafts of {max_chars} characters or fewer were each a "
                         "training line: allow more points")

    def draft_once(self, n: int, generator: torch.Generator, temperature: float,
                   max_chars: int) -> list[str]:
        """`draft` before a draft that is a training line is drawn again."""
        forms = self.forms(n, max_chars, generator) if self.vocabulary is not None else None
        lines, done, codes, state = [""] * n, [False] * n, torch.zeros(n, 1, dtype=torch.long), None
        for _ in range(max_chars if forms is None else max(map(len, forms)) + 1):
            log_probs, state = self(codes, state)
            logits = log_probs[:, -1] / temperature + self.prior(lines, forms)
            codes = torch.multinomial(logits.softmax(-1), 1, generator=generator)
            for row, code in enumerate(codes[:, 0].tolist()):
                done[row] = done[row] or code == 0
                lines[row] += "" if done[row] else self.cfg.alphabet[code - 1]
            if all(done):
                break
        if forms is not None:
            return lines
        # a line cut short at max_chars loses its unfinished word
        return [(t if ended or " " not in t else t.rsplit(" ", 1)[0]).strip()
                for t, ended in zip(lines, done, strict=True)]

    def forms(self, n: int, max_chars: int, generator: torch.Generator) -> list[str]:
        """`n` forms drawn from the training writers' lines (`training_lines`) that have a word,
        at most `max_chars` characters and slots that the vocabulary fills: real lines' lengths,
        words per line, capitals, digits and marks, which the ink shows (docs/HISTORY.md)."""
        fitting = [f for f in self.vocabulary.forms if len(f) <= max_chars]
        if not self.vocabulary.forms:
            raise ValueError("no training line's form takes only words of the lengths in the "
                             "word list: give a list with words of more lengths")
        if not fitting:
            room = f"{max_chars} character" + "s" * (max_chars != 1)
            raise ValueError(f"no training line's form fits in {room} with the word list's "
                             "words: allow more points")
        return [fitting[i] for i in torch.randint(len(fitting), (n,), generator=generator).tolist()]

    def prior(self, lines: list[str], forms: list[str] | None) -> Tensor:
        """Log-weights to add to the next code's logits after each of `lines` (-inf: not
        allowed): (B, V + 1). In its form, a line's slot takes letters that lead to the
        vocabulary's words (`Vocabulary.letters`), a `9` any digit, the rest is as the form has
        it, and the line ends with its form. With no forms, a line starts with neither its end
        nor a space."""
        alphabet = self.cfg.alphabet
        prior = torch.zeros(len(lines), len(alphabet) + 1)
        for row, text in enumerate(lines):
            if forms is None:
                if not text:
                    prior[row, 0] = prior[row, 1 + alphabet.index(" ")] = -math.inf
                continue
            form, at = forms[row], len(text)
            if at == len(form):
                shares = {"": 1.0}
            elif form[at] == "9":
                shares = dict.fromkeys(sorted(DIGITS), 1.0)
            elif form[at] in "aA":
                start = at
                while start > 0 and form[start - 1] in "aA":
                    start -= 1
                shares = self.vocabulary.letters(SLOT.match(form, start).group(0), text[start:])
            else:
                shares = {form[at]: 1.0}
            prior[row] = -math.inf
            codes = [1 + alphabet.index(c) if c else 0 for c in shares]
            prior[row, codes] = torch.tensor(list(shares.values())).log()
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
