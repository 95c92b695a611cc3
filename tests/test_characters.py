import pytest

from handwriter.characters import writable

ASCII = "".join(map(chr, range(32, 127)))


def test_typographic_punctuation_and_spaces_become_what_the_model_writes():
    text, notice = writable("“Don’t” – she said…\u00a0ok\u2009—\u200bfine\r\n\tnext", ASCII)
    assert text == '"Don\'t" - she said... ok -fine\n\tnext'  # a tab indents: wrap_text's
    assert notice.startswith("wrote ") and "\n" not in notice
    assert "“” as '\"'" in notice and "… as '...'" in notice and "dropped '\\u200b'" in notice


def test_accented_letters_become_their_base_letter():
    assert writable("Crème brûlée, Ångström, Straße, ﬁne", ASCII)[0] == \
        "Creme brulee, Angstrom, Strasse, fine"
    assert writable("plain text", ASCII) == ("plain text", "")  # nothing changed, no notice


def test_what_cannot_be_mapped_is_named_in_a_short_error():
    with pytest.raises(ValueError) as caught:
        writable("hi 😀 and 中文 " + "中" * 50, ASCII)
    message = str(caught.value)
    assert "'😀' (U+1F600)" in message and "'中' (U+4E2D)" in message and "'文'" in message
    assert len(message) < 160 and ASCII not in message and "\n" not in message


def test_a_substitute_the_alphabet_lacks_is_an_error_too():
    assert writable("é.", "abcde .")[0] == "e."
    with pytest.raises(ValueError, match="'…'"):
        writable("a…", "abcde ")  # no '.' to write an ellipsis with
