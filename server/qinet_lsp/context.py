"""Text around a cursor, and LSP positions <-> string offsets in utf-8/utf-16/utf-32.

Pure: no LSP imports. A position is (line, character) where character counts code units of
the negotiated encoding. Out-of-range positions are clamped to the document, and a
position inside a character (half a surrogate pair, the middle of a UTF-8 sequence) is
moved to that character's start, so an edit can never split a character.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from .stopping import is_word_char

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _units(ch: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(ch.encode("utf-8", errors="surrogatepass"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(ch) > 0xFFFF else 1  # utf-16 (the LSP default)


def line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _LINE_BREAK.finditer(text))]


def _line_end(text: str, starts: list[int], line: int) -> int:
    """Offset of the end of `line`'s content (before its line break)."""
    if line + 1 < len(starts):
        end = starts[line + 1]
        brk = _LINE_BREAK.match(text, end - 2 if text[end - 2:end] == "\r\n" else end - 1)
        return end - (len(brk.group()) if brk else 0)
    return len(text)


def offset_at(text: str, line: int, character: int, encoding: str = "utf-16") -> int:
    """String offset (code points) of an LSP position."""
    starts = line_starts(text)
    if line < 0:
        return 0
    if line >= len(starts):
        return len(text)
    pos, end, units = starts[line], _line_end(text, starts, line), 0
    while pos < end:
        width = _units(text[pos], encoding)
        if units + width > character:
            break
        units += width
        pos += 1
    return pos


def position_at(text: str, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
    """LSP (line, character) of a string offset."""
    offset = max(0, min(offset, len(text)))
    starts = line_starts(text)
    line = bisect_right(starts, offset) - 1
    return line, sum(_units(c, encoding) for c in text[starts[line]:offset])


@dataclass(frozen=True)
class CursorContext:
    before: str  # up to `max_chars` characters before the cursor
    after_line: str  # the rest of the cursor's line
    word_prefix: str  # the word characters right before the cursor
    next_char: str  # the character right after the cursor ('' at the end)
    offset: int  # the cursor's string offset

    @property
    def inside_word(self) -> bool:
        """A word character follows the cursor (completing would split a word)."""
        return bool(self.next_char) and is_word_char(self.next_char)


def cursor_context(text: str, line: int, character: int, encoding: str, max_chars: int) -> CursorContext:
    offset = offset_at(text, line, character, encoding)
    before = text[max(0, offset - max_chars):offset]
    start = offset
    while start > 0 and offset - start < 64 and is_word_char(text[start - 1]):
        start -= 1
    m = _LINE_BREAK.search(text, offset)
    after_line = text[offset:m.start() if m else len(text)]
    return CursorContext(before, after_line, text[start:offset], text[offset:offset + 1], offset)
