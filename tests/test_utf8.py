"""Incremental UTF-8: the validity mask and the decoder agree with Python's own codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinet_lsp.utf8 import Utf8Decoder, allowed_next_bytes, char_safe_tail, is_allowed

text_strategy = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))


@given(text_strategy)
def test_decoder_yields_exactly_the_characters_of_valid_utf8(text: str) -> None:
    dec = Utf8Decoder()
    out = [dec.feed(b) for b in text.encode("utf-8")]
    assert "".join(out) == text
    assert all(len(piece) <= 1 for piece in out)
    assert dec.pending == b""


@given(text_strategy)
def test_every_byte_of_valid_text_is_allowed(text: str) -> None:
    dec = Utf8Decoder()
    for b in text.encode("utf-8"):
        assert is_allowed(dec.pending, b)
        dec.feed(b)


@given(st.lists(st.integers(0, 255), min_size=1, max_size=40))
def test_any_walk_through_allowed_bytes_is_valid_utf8(choices: list[int]) -> None:
    """Pick each byte among the allowed ones: the stream always decodes strictly."""
    dec, data = Utf8Decoder(), bytearray()
    for c in choices:
        values = [v for lo, hi in allowed_next_bytes(dec.pending) for v in range(lo, hi + 1)]
        byte = values[c % len(values)]
        data.append(byte)
        dec.feed(byte)
    complete = bytes(data[: len(data) - len(dec.pending)])
    complete.decode("utf-8")  # strict: raises on anything invalid


@pytest.mark.parametrize("bad", [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                 b"\x80", b"\xff", b"\x00"])
def test_invalid_sequences_are_refused(bad: bytes) -> None:
    dec = Utf8Decoder()
    with pytest.raises(ValueError):
        for b in bad:
            dec.feed(b)


@given(text_strategy, st.integers(0, 50))
def test_char_safe_tail_never_cuts_a_character(text: str, n: int) -> None:
    data = text.encode("utf-8")
    tail = char_safe_tail(data, n)
    assert len(tail) <= n
    assert data.endswith(tail)
    tail.decode("utf-8")
    assert len(tail) > n - 4 or len(tail) == len(data)  # drops at most a partial character
