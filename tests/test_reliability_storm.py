"""A typing storm over the real server's stdio: 2,000 didChange + inlineCompletion pairs over
four documents, written as fast as the pipe takes them, most requests cancelled at once.
Every request ends, each document's last answer is the one its last text gives, and the
server's memory stays bounded."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from qinet_lsp.checkpoint import save_checkpoint
from qinet_lsp.model import ModelConfig

from .conftest import tiny_model
from .raw_session import RawSession, end_of, raw_session

N_PAIRS = 2000
WARM_PAIRS = 400  # RSS is compared from here to the end
BATCH = 100
DOCS = [f"file:///storm{i}.txt" for i in range(4)]
WINDOW = ModelConfig(d_model=16, max_len=64, dilations=(1, 2, 4), n_langs=2)
SETTINGS = {"sampling": {"temperature": 0}, "inline": {"maxChars": 8, "stopAt": "none"}}
ALPHABET = "abcdefghij klmnop ũĩ🙂."


def _edit(rng: random.Random, text: str) -> tuple[str, dict[str, Any]]:
    """Type a character at the end, or delete the last one (the text stays inside the model's
    window, so a fresh prefill and the cached steps read the same bytes)."""
    line = text.count("\n")
    col = len(text.encode("utf-8"))
    if len(text) > 4 and (rng.random() < 0.3 or len(text) > 40):
        last = len(text[-1].encode("utf-8"))
        change = {"range": {"start": {"line": line, "character": col - last},
                            "end": {"line": line, "character": col}}, "text": ""}
        return text[:-1], change
    ch = rng.choice(ALPHABET)
    at = {"line": line, "character": col}
    return text + ch, {"range": {"start": at, "end": at}, "text": ch}


async def _ghost(s: RawSession, uri: str, text: str) -> list[str]:
    return await s.inline(uri, end_of(text))


async def test_typing_storm_every_request_ends_and_the_last_answer_is_current(tmp_path: Path) -> None:
    checkpoint = tmp_path / "window64.pt"
    save_checkpoint(checkpoint, tiny_model(3, WINDOW), ["english", "kikuyu"])
    rng = random.Random(4)
    async with raw_session({"checkpoint": str(checkpoint), **SETTINGS}) as s:
        texts = {uri: f"The {i} cat " for i, uri in enumerate(DOCS)}
        versions = dict.fromkeys(DOCS, 1)
        for uri, text in texts.items():
            s.open(uri, text)
        futures: list[asyncio.Future[dict[str, Any]]] = []
        last: dict[str, asyncio.Future[dict[str, Any]]] = {}
        n_cancelled = 0
        rss: list[float] = []
        for k in range(N_PAIRS):
            uri = DOCS[rng.randrange(len(DOCS))]
            texts[uri], change = _edit(rng, texts[uri])
            versions[uri] += 1
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": versions[uri]},
                                                "contentChanges": [change]})
            rid = s.next_id()
            future = s.inline_request(uri, end_of(texts[uri]), rid)
            futures.append(future)
            last[uri] = future
            if rng.random() < 0.9 and k < N_PAIRS - 50:  # the last 50 are never cancelled
                s.notify("$/cancelRequest", {"id": rid})
                n_cancelled += 1
            if k % BATCH == BATCH - 1:
                await s.drain()
            if k + 1 == WARM_PAIRS:
                await asyncio.wait_for(asyncio.gather(*futures), 120)
                rss.append(s.rss_mb())
        answers = await asyncio.wait_for(asyncio.gather(*futures), 300)
        rss.append(s.rss_mb())

        codes = [a["error"]["code"] for a in answers if "error" in a]
        assert all(c == -32800 for c in codes), set(codes)  # only "cancelled"
        assert all(("result" in a) != ("error" in a) for a in answers)
        for uri in DOCS:
            final = last[uri].result()
            assert "result" in final, final
            got = [i["insertText"] for i in (final["result"] or {"items": []})["items"]]
            fresh = uri.replace("storm", "fresh")  # the same text, never typed: a new prefill
            s.open(fresh, texts[uri])
            assert got == await _ghost(s, fresh, texts[uri]), (uri, texts[uri])
            assert got, f"no ghost text for {texts[uri]!r}"
        info = (await s.command("qinet.status"))["result"]
        growth = rss[-1] - rss[0]
        print(f"\nstorm: {N_PAIRS} pairs over {len(DOCS)} documents, {n_cancelled} cancelled "
              f"({len(codes)} ended as cancelled, the rest answered), prefills {info['prefills']}, "
              f"steps {info['steps']}; RSS {rss[0]:.0f} -> {rss[-1]:.0f} MB (growth {growth:+.1f} MB)")
        assert growth < 40, f"RSS grew by {growth:.1f} MB over {N_PAIRS - WARM_PAIRS} pairs"
        assert await s.shutdown() == 0
