"""Build what `sample` drafts from: handwriter/models/english_words.txt.gz and
training_lines.txt.gz.

    apt-get install wamerican-small   # SCOWL size 35: /usr/share/dict/american-english-small
    python docs/word_list.py [--dict PATH] [--data ../shared/data/unipen/lines.npz]

The word list keeps SCOWL's lower-case words less possessives, roman numerals and single
letters but "a", adds "I" and "I'm", and writes after each word its count in the training
writers' transcriptions where it has one (handwriter/models/english_words.LICENSE says the
same). The training lines file holds each of those transcriptions' form and a digest of its
text, never the text (`text_model.form_of`, `text_model.digest`).
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

import numpy as np

from handwriter.data import writer_split
from handwriter.text_model import TRAINING_LINES, WORD_LIST, digest, form_of

ROMAN = re.compile(r"m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})")
MODELS = Path(__file__).parents[1] / "handwriter" / "models"


def english_words(path: str) -> list[str]:
    """SCOWL's lower-case words, as `sample` may write them."""
    words = {w for w in Path(path).read_text("utf-8").split()
             if re.fullmatch(r"[a-z']+", w) and not w.endswith("'s") and w[0] != "'"
             and w[-1] != "'" and not ROMAN.fullmatch(w) and (len(w) > 1 or w == "a")
             and w not in ("cs", "ms")}
    return sorted(words | {"mix", "I", "I'm"})  # "mix" reads as a numeral but is a word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dict", default="/usr/share/dict/american-english-small")
    parser.add_argument("--data", default="../shared/data/unipen/lines.npz")
    args = parser.parse_args()
    words = english_words(args.dict)
    spelled = {w.lower(): w for w in words}
    counts: Counter[str] = Counter()
    training = []
    with np.load(args.data, allow_pickle=False) as data:
        for text, writer in zip(data["text"], data["writer"], strict=True):
            if writer_split(str(writer)) == "train":
                for token in re.findall(r"[A-Za-z']+", str(text)):
                    word = spelled.get(token.strip("'").lower())
                    if word and (word.islower() or token.strip("'") == word):
                        counts[word] += 1
                if str(text).strip():
                    training.append(str(text).strip())
    lines = "".join(f"{w} {counts[w]}\n" if counts[w] else f"{w}\n" for w in words)
    (MODELS / WORD_LIST).write_bytes(gzip.compress(lines.encode(), 9, mtime=0))
    print(f"{MODELS / WORD_LIST}: {len(words):,} words, {len(counts):,} of them counted")
    rows = "".join(f"{form_of(t)}\t{digest(t)}\n" for t in training)
    (MODELS / TRAINING_LINES).write_bytes(gzip.compress(rows.encode(), 9, mtime=0))
    print(f"{MODELS / TRAINING_LINES}: {len(training):,} lines' forms and digests")


if __name__ == "__main__":
    main()
