"""Text people paste, made writable: typographic punctuation, other spaces and accented
letters mapped to the characters a model's alphabet holds.

`writable` is the one place this happens, for `write`, the Python API, pages and the studio.
"""

from __future__ import annotations

import unicodedata

# What a model trained on plain ASCII text writes for the typographic characters people paste.
SUBSTITUTES = {
    **dict.fromkeys("‘’‚‛′‹›`´", "'"), **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−⁃", "-"), "…": "...", "•": "-", "·": ".", "×": "x", "⁄": "/",
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ı": "i", "\r": "\n",
    "\u2028": "\n", "\u2029": "\n",
}
SHOWN = 6  # changes a notice names before it says "and more"
LAYOUT = "\n\t"  # kept for `layout.wrap_text`: line breaks, and tabs that indent a paragraph


def substitute(char: str, alphabet: str) -> str | None:
    """What to write for `char`: itself, a substitute, its letters without their accents
    (Unicode NFKD, so also ligatures and full-width forms), '' for an invisible format
    character; None if the alphabet has nothing for it."""
    if char in alphabet or char in LAYOUT:
        return char
    if char in SUBSTITUTES:
        choice = SUBSTITUTES[char]
    elif unicodedata.category(char) == "Zs":  # no-break, thin, em ... spaces
        choice = " "
    elif unicodedata.category(char) == "Cf":  # zero-width space, soft hyphen, BOM
        choice = ""
    else:
        choice = "".join(c for c in unicodedata.normalize("NFKD", char)
                         if not unicodedata.combining(c))
    return choice if all(c in alphabet or c in LAYOUT for c in choice) else None


def writable(text: str, alphabet: str) -> tuple[str, str]:
    """`text` in characters of `alphabet` (line breaks kept), and a one-line notice of what
    was changed ('' when nothing was); a ValueError names what cannot be written."""
    if not isinstance(text, str):
        raise TypeError(f"the text to write must be a str, got {type(text).__name__}")
    text = text.replace("\r\n", "\n")
    out, changed, unknown = [], {}, []
    for char in text:
        choice = substitute(char, alphabet)
        if choice is None:
            if char not in unknown:
                unknown.append(char)
        elif choice != char:
            changed.setdefault(choice, []).extend(c for c in char if c not in
                                                  changed.get(choice, []))
        out.append(choice or "")
    if unknown:
        raise ValueError(cannot_write(unknown))
    shown = [f"{''.join(chars)} as {what!r}" if what else f"dropped {''.join(map(ascii, chars))}"
             for what, chars in changed.items()]
    notice = ""
    if shown:
        more = ", and more" if len(shown) > SHOWN else ""
        notice = "wrote " + ", ".join(shown[:SHOWN]) + more
    return "".join(out), notice


def cannot_write(chars: list[str]) -> str:
    """A short error naming characters no model alphabet holds, with their code points."""
    named = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars[:SHOWN])
    more = f" and {len(chars) - SHOWN} more" if len(chars) > SHOWN else ""
    them = "it" if len(chars) == 1 else "them"
    if all(c.isalnum() for c in chars):  # a model trained on text too short to hold them
        return (f"the model cannot write {named}{more}: its training text held too few of "
                f"{them} (train --min-char-count)")
    return f"the model cannot write {named}{more}; leave {them} out or spell {them} in letters"
