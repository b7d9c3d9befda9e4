"""Stop rules over generated text: where to cut it, and how much of it is already final.

Each rule looks at the whole generated text so far and answers two questions:
``cut`` — the length to keep if generation must stop now (None: keep going), and
``safe`` — how many leading characters can no longer be removed by a later cut, so a
streaming caller can show them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum


class StopAt(str, Enum):
    NONE = "none"  # only the length limit and stop strings
    WORD = "word"  # at the end of the first word (the non-word character is not kept)
    SENTENCE = "sentence"  # after . ! ? … (and closing quotes) before whitespace, or at a blank line
    LINE = "line"  # before the first newline


_APOSTROPHES = "'\u2019"
# A terminator, any closing quotes/brackets, then the whitespace that proves the sentence ended.
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u2019\u201d)\]]*(?=\s)")


def is_word_char(ch: str) -> bool:
    """Letters, digits, underscore, combining marks and apostrophes (don't, ng'ombe)."""
    return ch.isalnum() or ch == "_" or ch in _APOSTROPHES or unicodedata.category(ch).startswith("M")


def _cut_word(text: str) -> int | None:
    seen_word = False
    for i, ch in enumerate(text):
        if is_word_char(ch):
            seen_word = True
        elif seen_word:
            return i
    return None


def _cut_sentence(text: str) -> int | None:
    cuts = [m.end() for m in (_SENTENCE_END.search(text),) if m]
    blank = text.find("\n\n")
    if blank >= 0:
        cuts.append(blank)
    return min(cuts) if cuts else None


def _cut_line(text: str) -> int | None:
    i = text.find("\n")
    return i if i >= 0 else None


_CUTTERS = {StopAt.WORD: _cut_word, StopAt.SENTENCE: _cut_sentence, StopAt.LINE: _cut_line}


@dataclass(frozen=True)
class StopRules:
    stop_at: StopAt = StopAt.NONE
    stop_strings: tuple[str, ...] = ()
    max_chars: int | None = None  # a length limit in characters (the byte budget is separate)

    def cut(self, text: str) -> tuple[int, str] | None:
        """(length to keep, reason) if the text must end now, else None."""
        found: list[tuple[int, str]] = []
        cutter = _CUTTERS.get(self.stop_at)
        if cutter is not None and (at := cutter(text)) is not None:
            found.append((at, self.stop_at.value))
        for s in self.stop_strings:
            if s and (i := text.find(s)) >= 0:
                found.append((i, "stop_string"))
        if self.max_chars is not None and len(text) >= self.max_chars:
            found.append((self.max_chars, "max_chars"))  # last: a rule's own cut wins a tie
        return min(found, key=lambda f: f[0]) if found else None

    def safe(self, text: str) -> int:
        """How many leading characters of `text` no future cut can remove."""
        held = max((_prefix_overlap(text, s) for s in self.stop_strings if s), default=0)
        if self.stop_at is StopAt.SENTENCE and text.endswith("\n"):
            held = max(held, 1)  # may be the first half of a paragraph break
        return len(text) - held


def _prefix_overlap(text: str, stop: str) -> int:
    """Length of the longest suffix of text that is a proper prefix of stop."""
    for n in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


def trim_to_word_end(text: str) -> str:
    """Drop a word cut off by a length limit (keep the text if it is a single word)."""
    if not text or not is_word_char(text[-1]):
        return text
    for i in range(len(text) - 1, 0, -1):
        if not is_word_char(text[i]):
            return text[: i + 1].rstrip() if text[: i + 1].strip() else text
    return text
