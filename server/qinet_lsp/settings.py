"""The `qinet` settings: one typed, fully defaulted tree — the single source of truth.

Python names are snake_case; on the wire (and in editors) they are camelCase, under the
section ``qinet`` (``qinet.sampling.topP``). Each field carries its description and bounds in
``metadata``; the VS Code ``contributes.configuration`` and the Neovim defaults table are
generated from / checked against ``json_schema()``.

``parse()`` never raises: a bad value is reported in the returned problems and the previous
good value stays in force; an absent value means the default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, get_type_hints

STOP_AT = ("none", "word", "sentence", "line")


def setting(default: Any, doc: str, *, minimum: float | None = None, maximum: float | None = None,
            enum: tuple[str, ...] | None = None, wire: str | None = None) -> Any:
    meta = {"doc": doc, "minimum": minimum, "maximum": maximum, "enum": enum, "wire": wire}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SamplingSettings:
    temperature: float = setting(
        0.7, "Randomness of suggestions: 0 always picks the most likely next byte; higher values "
        "are more adventurous.", minimum=0, maximum=5)
    top_k: int = setting(0, "Sample only among the k most likely next bytes (0: off).",
                         minimum=0, maximum=256)
    top_p: float = setting(0.95, "Sample among the smallest set of next bytes whose probability "
                           "exceeds p (1: off).", minimum=0.01, maximum=1)
    seed: int | None = setting(None, "Fixed random seed: the same text and settings then give the "
                               "same suggestion (null: a new seed each time).", minimum=0,
                               maximum=2**62)


@dataclass(frozen=True)
class InlineSettings:
    enable: bool = setting(True, "Show ghost-text suggestions while typing.")
    max_chars: int = setting(60, "Longest ghost-text suggestion, in characters.",
                             minimum=1, maximum=2000)
    stop_at: str = setting("sentence", "Where a ghost-text suggestion ends: word, sentence, line "
                           "or none (only maxChars).", enum=STOP_AT)
    candidates: int = setting(1, "How many different ghost-text suggestions to offer.",
                              minimum=1, maximum=5)


@dataclass(frozen=True)
class ContinueSettings:
    max_chars: int = setting(300, "Longest text that Continue Text inserts, in characters.",
                             minimum=1, maximum=20000)
    stop_at: str = setting("none", "Where Continue Text stops: word, sentence, line or none "
                           "(only maxChars).", enum=STOP_AT)


@dataclass(frozen=True)
class CompletionSettings:
    enable: bool = setting(True, "Offer the model's most likely words in the completion menu.")
    max_items: int = setting(5, "How many words to offer in the completion menu.",
                             minimum=1, maximum=20)


@dataclass(frozen=True)
class Settings:
    checkpoint: str = setting("", "Path of the model checkpoint (empty: the shipped default "
                              "model). Changing it reloads the model in the background.")
    context_chars: int = setting(1000, "How many characters before the cursor the model reads "
                                 "(it never reads more than its window).", minimum=1,
                                 maximum=1_000_000)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    inline: InlineSettings = field(default_factory=InlineSettings)
    continue_: ContinueSettings = field(default_factory=ContinueSettings,
                                        metadata={"wire": "continue"})
    completion: CompletionSettings = field(default_factory=CompletionSettings)


SECTION = "qinet"


def wire_name(f: dataclasses.Field[Any]) -> str:
    if f.metadata.get("wire"):
        return str(f.metadata["wire"])
    head, *rest = f.name.split("_")
    return head + "".join(w.title() for w in rest)


def parse(raw: Any, previous: Any = None, cls: type[Any] = Settings,
          prefix: str = SECTION) -> tuple[Any, list[str]]:
    """Settings of type `cls` from a camelCase dict; problems as plain-words messages."""
    previous = previous if previous is not None else cls()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return previous, [f"`{prefix}` must be an object, not {_show(raw)}; keeping the "
                          "current settings."]
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in dataclasses.fields(cls):
        name, typ, old = wire_name(f), hints[f.name], getattr(previous, f.name)
        path = f"{prefix}.{name}"
        if dataclasses.is_dataclass(typ):
            values[f.name], sub = parse(raw.get(name), old, typ, path)  # type: ignore[arg-type]
            problems += sub
        elif name not in raw:
            values[f.name] = f.default
        else:
            value, problem = _check(raw[name], typ, f.metadata, path)
            values[f.name] = old if problem else value
            if problem:
                problems.append(f"{problem}; keeping {_show(old)}.")
    return cls(**values), problems


def _check(value: Any, typ: Any, meta: Any, path: str) -> tuple[Any, str | None]:
    optional = typ == (int | None)
    if value is None:
        return (None, None) if optional else (None, f"`{path}` cannot be null")
    if typ is bool or typ == "bool":
        ok = isinstance(value, bool)
    elif typ in (int, int | None):
        ok = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            value, ok = int(value), True
    elif typ is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and isinstance(value, int) and abs(value) < 2**1000:
            value = float(value)  # (a larger integer stays one: the range check refuses it)
        ok = ok and (isinstance(value, int) or math.isfinite(value))
    else:
        ok = isinstance(value, str)
    if not ok:
        return None, f"`{path}` must be {_type_words(typ)}, not {_show(value)}"
    if meta.get("enum") and value not in meta["enum"]:
        return None, f"`{path}` must be one of {', '.join(meta['enum'])}, not {_show(value)}"
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return None, f"`{path}` must be between {lo} and {hi}, not {_show(value)}"
    return value, None


def _type_words(typ: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        typ, "a whole number or null")


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."


def to_wire(settings: Any) -> dict[str, Any]:
    """camelCase dict of a settings tree (for tests, docs and clients)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        out[wire_name(f)] = to_wire(value) if dataclasses.is_dataclass(value) else value
    return out


def json_schema(cls: type[Any] = Settings, prefix: str = SECTION) -> dict[str, dict[str, Any]]:
    """Flat ``{"qinet.sampling.topP": {type, default, description, ...}}`` for every leaf."""
    hints = get_type_hints(cls)
    out: dict[str, dict[str, Any]] = {}
    for f in dataclasses.fields(cls):
        typ, key = hints[f.name], f"{prefix}.{wire_name(f)}"
        if dataclasses.is_dataclass(typ):
            out |= json_schema(typ, key)  # type: ignore[arg-type]
            continue
        kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(typ,
                                                                                    ["integer", "null"])
        entry: dict[str, Any] = {"type": kind, "default": f.default, "description": f.metadata["doc"]}
        for k in ("minimum", "maximum"):
            if f.metadata.get(k) is not None:
                entry[k] = f.metadata[k]
        if f.metadata.get("enum"):
            entry["enum"] = list(f.metadata["enum"])
        out[key] = entry
    return out
