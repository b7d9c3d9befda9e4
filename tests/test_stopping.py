"""Stop rules: where generated text is cut, and what is safe to stream."""

from __future__ import annotations

import pytest

from qinet_lsp.stopping import StopAt, StopRules


@pytest.mark.parametrize(("stop_at", "text", "kept"), [
    (StopAt.WORD, "ngoro ", "ngoro"),
    (StopAt.WORD, " mũndũ wa", " mũndũ"),
    (StopAt.WORD, "don't go", "don't"),
    (StopAt.WORD, ", and", None),  # punctuation first: the word is still going on
    (StopAt.LINE, "end of line\nnext", "end of line"),
    (StopAt.LINE, "\nnext", ""),
    (StopAt.SENTENCE, "He left. Then", "He left."),
    (StopAt.SENTENCE, "She said \"Go!\" and", "She said \"Go!\""),
    (StopAt.SENTENCE, "pi is 3.14 and e", None),
    (StopAt.SENTENCE, "a wrapped\nline", None),
    (StopAt.SENTENCE, "end of para\n\nNew", "end of para"),
    (StopAt.NONE, "anything. at all\n", None),
])
def test_cut_points(stop_at: StopAt, text: str, kept: str | None) -> None:
    cut = StopRules(stop_at).cut(text)
    assert (None if cut is None else text[: cut[0]]) == kept


def test_stop_strings_are_not_included_and_earliest_wins() -> None:
    rules = StopRules(StopAt.LINE, ("END", "##"))
    assert rules.cut("abc ## def END") == (4, "stop_string")
    assert rules.cut("ab\ncd END") == (2, "line")


def test_possible_stop_string_prefix_is_held_back() -> None:
    rules = StopRules(StopAt.NONE, ("</end>",))
    assert rules.safe("hello </e") == len("hello ")
    assert rules.safe("hello") == 5
    assert StopRules(StopAt.SENTENCE).safe("para\n") == 4
