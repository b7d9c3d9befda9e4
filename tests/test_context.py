"""Positions in utf-8/utf-16/utf-32 and the text around a cursor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qinet_lsp.context import cursor_context, offset_at, position_at

DOC = "Mũndũ 🙂 nĩ\r\nmwega 漢字\nend"


@pytest.mark.parametrize(("encoding", "char_of_ni"), [("utf-8", 13), ("utf-16", 9), ("utf-32", 8)])
def test_positions_count_code_units_of_the_encoding(encoding: str, char_of_ni: int) -> None:
    offset = DOC.index("nĩ")
    assert position_at(DOC, offset, encoding) == (0, char_of_ni)
    assert offset_at(DOC, 0, char_of_ni, encoding) == offset


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
       st.sampled_from(["utf-8", "utf-16", "utf-32"]))
def test_position_round_trip(text: str, encoding: str) -> None:
    for offset in range(len(text) + 1):
        if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
            continue  # inside a CRLF line break: not a position
        line, character = position_at(text, offset, encoding)
        assert offset_at(text, line, character, encoding) == offset


def test_out_of_range_and_mid_character_positions_are_clamped() -> None:
    assert offset_at(DOC, 0, 999) == DOC.index("\r")  # end of line 0, before CRLF
    assert offset_at(DOC, 99, 0) == len(DOC)
    emoji = DOC.index("🙂")
    assert offset_at(DOC, 0, position_at(DOC, emoji, "utf-16")[1] + 1, "utf-16") == emoji
    assert offset_at(DOC, 0, position_at(DOC, emoji, "utf-8")[1] + 2, "utf-8") == emoji


def test_cursor_context_finds_prefix_following_text_and_inside_word() -> None:
    text = "Ngai nĩ mwe ga"
    ctx = cursor_context(text, 0, len("Ngai nĩ mwe"), "utf-32", 1000)
    assert ctx.word_prefix == "mwe" and ctx.after_line == " ga" and not ctx.inside_word
    inside = cursor_context(text, 0, len("Ngai nĩ mw"), "utf-32", 1000)
    assert inside.inside_word and inside.word_prefix == "mw"
    assert cursor_context(text, 0, 14, "utf-32", 4).before == "e ga"
