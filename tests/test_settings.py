"""The settings schema: defaults, validation in plain words, last good value kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qinet_lsp.settings import Settings, json_schema, parse, to_wire

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_parse_from_nothing() -> None:
    settings, problems = parse(None)
    assert settings == Settings() and problems == []
    assert to_wire(settings)["continue"]["maxChars"] == 300
    assert to_wire(settings)["sampling"]["topP"] == 0.95


def test_camel_case_values_are_read() -> None:
    s, problems = parse({"contextChars": 200, "sampling": {"temperature": 0, "topK": 5, "seed": 7},
                         "inline": {"stopAt": "line", "maxChars": 20}, "continue": {"stopAt": "word"}})
    assert problems == []
    assert (s.context_chars, s.sampling.temperature, s.sampling.top_k, s.sampling.seed) == (200, 0.0, 5, 7)
    assert (s.inline.stop_at, s.inline.max_chars, s.continue_.stop_at) == ("line", 20, "word")


@pytest.mark.parametrize(("raw", "words"), [
    ({"sampling": {"temperature": -1}}, "qinet.sampling.temperature` must be between 0 and 5"),
    ({"sampling": {"topP": 1.5}}, "qinet.sampling.topP` must be between 0.01 and 1"),
    ({"sampling": {"topK": "many"}}, "must be a whole number"),
    ({"inline": {"enable": "yes"}}, "must be true or false"),
    ({"inline": {"stopAt": "paragraph"}}, "must be one of none, word, sentence, line"),
    ({"contextChars": None}, "cannot be null"),
    ({"sampling": 3}, "`qinet.sampling` must be an object"),
])
def test_bad_values_are_reported_and_the_last_good_value_stays(raw: dict, words: str) -> None:
    good, _ = parse({"sampling": {"temperature": 0.3, "topP": 0.5, "topK": 4},
                     "inline": {"enable": False, "stopAt": "word"}, "contextChars": 99})
    settings, problems = parse(raw, good)
    assert len(problems) == 1 and words in problems[0] and "keeping" in problems[0]
    flat_good, flat_new = to_wire(good), to_wire(settings)
    for section in ("sampling", "inline"):
        for key in raw.get(section, {}) if isinstance(raw.get(section), dict) else []:
            assert flat_new[section][key] == flat_good[section][key]


def test_absent_value_means_default_again() -> None:
    custom, _ = parse({"sampling": {"temperature": 0.1}})
    back, _ = parse({}, custom)
    assert back.sampling.temperature == Settings().sampling.temperature


def test_schema_covers_every_leaf_with_type_default_and_description() -> None:
    schema = json_schema()
    assert len(schema) == 14
    for key, entry in schema.items():
        assert key.startswith("qinet.") and entry["description"]
        assert {"type", "default"} <= set(entry)
    assert schema["qinet.sampling.seed"]["type"] == ["integer", "null"]


def test_readme_documents_every_setting_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key, entry in json_schema().items():
        default = "null" if entry["default"] is None else str(entry["default"]).lower() \
            if isinstance(entry["default"], bool) else str(entry["default"])
        default = '""' if default == "" else default
        row = re.search(rf"^\| `{re.escape(key)}` \|[^|]*\| `?{re.escape(default)}`? \|", readme, re.M)
        assert row, f"README has no row for {key} with default {default}"
