"""Awkward documents from a utf-8 client, over the real server's stdio: 10 MB of text, lone
surrogates, NUL bytes and bytes that are not UTF-8 at all. Every request is answered, and
what the server sends back is valid text at a position inside the document."""

from __future__ import annotations

import asyncio
from pathlib import Path

from .raw_session import RawSession, encode, frame, raw_session

FAST = {"inline": {"maxChars": 12}, "continue": {"maxChars": 12}, "completion": {"maxItems": 3}}


def _clean(text: str) -> bool:
    """Text an editor can insert: encodable as UTF-8 (no lone surrogates) and without NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


async def _all_features(s: RawSession, uri: str, line: int, character: int,
                        last_line: int = 0) -> list[str]:
    """Ghost text, menu words and Continue Text at a position; every answer must be a result,
    and every range must lie in the document (lines 0..last_line)."""
    pos = {"line": line, "character": character}
    where = {"textDocument": {"uri": uri}, "position": pos}
    inline = await asyncio.wait_for(s.inline_request(uri, pos), 120)
    words = await s.call("textDocument/completion", where, 120)
    written = await s.command("qinet.continueText", where, timeout_s=120)
    language = await s.command("qinet.detectLanguage", where, timeout_s=120)
    for answer in (inline, words, written, language):
        assert "result" in answer, answer
    texts = [i["insertText"] for i in (inline["result"] or {"items": []})["items"]]
    texts += [i["textEdit"]["newText"] for i in words["result"]["items"]]
    texts.append(written["result"]["text"])
    ranges = [i["range"] for i in (inline["result"] or {"items": []})["items"]]
    ranges += [i["textEdit"]["range"] for i in words["result"]["items"]]
    for r in ranges:
        assert r["start"]["line"] == r["end"]["line"] == min(line, last_line), (r, line)
    return texts


async def test_a_10_mb_document_is_served_and_edited(tiny_checkpoint: Path) -> None:
    line = "Mũndũ ũmwe nĩ mwega, the cat sat on the mat 🙂 " * 4 + "\n"
    big = line * (10_000_000 // len(line.encode()) + 1)
    async with raw_session({"checkpoint": str(tiny_checkpoint), **FAST}) as s:
        s.open("file:///big.txt", big)
        n_lines = big.count("\n")
        texts = await _all_features(s, "file:///big.txt", n_lines // 2, 10, n_lines)
        texts += await _all_features(s, "file:///big.txt", n_lines, 0, n_lines)
        texts += await _all_features(s, "file:///big.txt", 10**9, 10**9, n_lines)  # clamped
        s.notify("textDocument/didChange", {
            "textDocument": {"uri": "file:///big.txt", "version": 2},
            "contentChanges": [{"range": {"start": {"line": 5, "character": 0},
                                          "end": {"line": 5, "character": 0}}, "text": "typed "}]})
        texts += await _all_features(s, "file:///big.txt", 5, len("typed "), n_lines)
        assert all(_clean(t) for t in texts)
        rss = s.rss_mb()
        print(f"\n10 MB document ({len(big.encode()) / 1e6:.1f} MB, {n_lines} lines): every "
              f"feature answered; server RSS {rss:.0f} MB")
        assert await s.shutdown() == 0


async def test_lone_surrogates_nul_and_invalid_utf8_are_served(tiny_checkpoint: Path) -> None:
    """Documents: 'a\\ud800b\\x00c 🙂 ' (lone surrogate, NUL) and bytes 0xFF 0xFE inside the
    JSON of a didOpen (not UTF-8 at all)."""
    async with raw_session({"checkpoint": str(tiny_checkpoint), **FAST}) as s:
        odd = "a\ud800b\x00c \udfff🙂 \x00\n\ud83d"
        s.open("file:///odd.txt", odd)
        body = encode({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": "file:///bytes.txt", "languageId": "plaintext", "version": 1, "text": "ab cd "}}})
        s.write(frame(body.replace(b"ab cd", b"a\xff\xfeb c\xc3d")))
        texts: list[str] = []
        for character in range(0, 14):  # every utf-8 offset, including mid-character ones
            texts += await _all_features(s, "file:///odd.txt", 0, character)
        texts += await _all_features(s, "file:///odd.txt", 1, 99, 1)
        texts += await _all_features(s, "file:///bytes.txt", 0, 100)
        assert all(_clean(t) for t in texts), [t for t in texts if not _clean(t)]
        assert any("not valid UTF-8" in m for m in s.messages())
        assert await s.shutdown() == 0
