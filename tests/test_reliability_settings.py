"""Settings fuzz through the real server: random JSON for every setting (wrong types, NaN,
infinities, huge numbers, nulls, whole sections of the wrong type) in initializationOptions,
pushed configuration and Continue Text's per-call settings. The server never fails, warns
once per bad value, and keeps the last good value; the oracle here is the published schema
(`json_schema()`, the one VS Code's settings are generated from), not the parser."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from qinet_lsp.settings import json_schema

from .raw_session import RawSession, end_of, raw_session

N_PUSHES = 300
SCHEMA = {k: v for k, v in json_schema().items() if k != "qinet.checkpoint"}  # (kept fixed)
SECTIONS = sorted({k.rsplit(".", 1)[0] for k in SCHEMA} - {"qinet"})


def _valid(value: Any, entry: dict[str, Any]) -> bool:
    kind = entry["type"]
    if value is None:
        return kind == ["integer", "null"]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    elif kind == "number":
        ok = number and (isinstance(value, int) or math.isfinite(value))
    else:  # integer (or null)
        ok = number and (isinstance(value, int) or (math.isfinite(value) and value == int(value)))
    if ok and "enum" in entry:
        ok = value in entry["enum"]
    if ok and number:
        ok = entry.get("minimum", -math.inf) <= value <= entry.get("maximum", math.inf)
    return ok


def _value(rng: random.Random, entry: dict[str, Any]) -> Any:
    if rng.random() < 0.3:  # a good value now and then, so there is something to keep
        if "enum" in entry:
            return rng.choice(entry["enum"])
        if entry["type"] == "boolean":
            return rng.random() < 0.5
        lo, hi = entry.get("minimum", 0), min(entry.get("maximum", 100), 100)
        return rng.randint(int(lo), int(hi)) if entry["type"] != "number" else rng.uniform(lo, hi)
    return rng.choice([None, math.nan, math.inf, -math.inf, 10**400, -(10**30), 1e308, -1, 0.5,
                       2**62 + 1, True, "", "0.5", "sentence ", [], [1], {}, {"value": 1},
                       "\ud800\x00", 7, 3.0])


def _push(rng: random.Random) -> dict[str, Any]:
    """A random `qinet` section: each setting present (random) or absent."""
    raw: dict[str, Any] = {}
    for key, entry in SCHEMA.items():
        if rng.random() < 0.8:
            *path, name = key.split(".")[1:]
            node = raw
            for part in path:
                node = node.setdefault(part, {})
            node[name] = _value(rng, entry)
    if rng.random() < 0.1:
        raw[rng.choice(SECTIONS).split(".", 1)[1]] = rng.choice([5, "x", [1], True])
    return raw


def _expected(raw: Any, previous: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The settings in force after `raw`, and the bad values in it (as 'key=json')."""
    if not isinstance(raw, dict):
        return dict(previous), {f"qinet={json.dumps(raw)}"}
    now, bad = {}, set()
    for key, entry in SCHEMA.items():
        *path, name = key.split(".")[1:]
        node: Any = raw
        for i, part in enumerate(path):
            node = node.get(part) if isinstance(node, dict) else None
            if node is not None and not isinstance(node, dict):
                bad.add(f"qinet.{'.'.join(path[:i + 1])}={json.dumps(node)}")
                node = "keep"
                break
        if node == "keep":
            now[key] = previous[key]
        elif node is None or name not in node:
            now[key] = entry["default"]
        elif _valid(node[name], entry):
            now[key] = node[name]
        else:
            now[key], _ = previous[key], bad.add(f"{key}={json.dumps(node[name])}")
    return now, bad


def _flat(wire: dict[str, Any], prefix: str = "qinet") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in wire.items():
        out |= _flat(value, f"{prefix}.{key}") if isinstance(value, dict) else {f"{prefix}.{key}": value}
    return out


async def _in_force(s: RawSession) -> dict[str, Any]:
    flat = _flat((await s.command("qinet.status"))["result"]["settings"])
    return {k: v for k, v in flat.items() if k in SCHEMA}


def _settings_warnings(s: RawSession, since: int) -> list[str]:
    return [n["params"]["message"] for n in s.notifications[since:]
            if n["method"] == "window/showMessage" and "QINet settings" in n["params"]["message"]]


async def test_random_settings_never_break_the_server_and_keep_the_last_good_value(
        tiny_checkpoint: Path) -> None:
    rng = random.Random(5)
    first = {"sampling": {"temperature": 10**400, "topP": math.nan, "seed": -math.inf},
             "inline": "wide", "contextChars": None}
    async with raw_session({"checkpoint": str(tiny_checkpoint), **first}) as s:
        assert "result" in s.init_response, s.init_response
        expected, bad = _expected(first, {k: e["default"] for k, e in SCHEMA.items()})
        assert await _in_force(s) == expected
        assert len(_settings_warnings(s, 0)) == len(bad) == 5
        previous_bad, n_bad, n_warned = bad, 0, 0
        for _ in range(N_PUSHES):
            raw = _push(rng)
            since = len(s.notifications)
            s.notify("workspace/didChangeConfiguration",
                     {"settings": {"qinet": {**raw, "checkpoint": str(tiny_checkpoint)}}})
            expected, bad = _expected(raw, expected)
            assert await _in_force(s) == expected, raw
            warned = _settings_warnings(s, since)
            new = bad - previous_bad
            assert len(warned) == len(new), (sorted(new), warned)  # once per new bad value
            for item in new:
                key = item.split("=")[0]
                assert any(f"`{key}`" in w for w in warned), (key, warned)
            previous_bad, n_bad, n_warned = bad, n_bad + len(bad), n_warned + len(warned)
        s.open("file:///a.txt", "The cat ")
        for _ in range(20):  # per-call settings for Continue Text get the same treatment
            response = await s.command("qinet.continueText", {
                "textDocument": {"uri": "file:///a.txt"}, "position": end_of("The cat "),
                "settings": rng.choice([_push(rng), 5, "x", None, [1]])})
            assert "result" in response, response
        s.notify("workspace/didChangeConfiguration",
                 {"settings": {"qinet": {"checkpoint": str(tiny_checkpoint)}}})
        assert await s.inline("file:///a.txt", end_of("The cat "))  # still serving
        print(f"\nsettings fuzz: {N_PUSHES} pushes, {n_bad} bad values ({n_warned} warnings, one per "
              "new bad value), last good value kept every time, 0 crashes")
        assert await s.shutdown() == 0
