"""Protocol abuse over the real server's stdio: a seeded fuzzer of 5,000 messages, broken
framing, requests before `initialize` and after `shutdown`. Every request that can be read
gets a result or a JSON-RPC error, and the server is still serving afterwards."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from .raw_session import Message, RawSession, encode, end_of, frame, raw_session

N_MESSAGES = 5000
URIS = [f"file:///fuzz{i}.txt" for i in range(4)] + ["file:///never-opened.txt"]
TEXTS = ["", "The cat ", "Mũndũ ũmwe nĩ 🙂 ", "a\x00b\ud800c\udfff ", "line one\r\nline two\n\n"]
FAST = {"inline": {"maxChars": 8}, "continue": {"maxChars": 8}, "completion": {"maxItems": 2}}


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, biased towards the awkward ones."""
    pick = rng.randrange(10 if depth < 3 else 7)
    if pick == 7:
        return [_junk(rng, depth + 1) for _ in range(rng.randrange(3))]
    if pick == 8:
        return {rng.choice(["line", "uri", "textDocument", "x"]): _junk(rng, depth + 1)}
    if pick == 9:
        return {"line": _junk(rng, depth + 1), "character": rng.randrange(-5, 10**6)}
    return [None, True, -1, 2**53 + rng.randrange(9), rng.uniform(-1e308, 1e308), "",
            "\ud800\x00🙂" * rng.randrange(3)][pick]


def _position(rng: random.Random) -> Any:
    if rng.random() < 0.8:
        return {"line": rng.choice([0, 1, 3, 10**9]), "character": rng.choice([0, 2, 5, 9, 2**31 - 1])}
    return _junk(rng)


def _params(rng: random.Random, method: str) -> Any:
    """Params for `method`: mostly well formed, sometimes a field of the wrong type."""
    doc: Any = {"uri": rng.choice(URIS)} if rng.random() < 0.9 else {"uri": _junk(rng)}
    if method in ("textDocument/inlineCompletion", "textDocument/completion"):
        params: Any = {"textDocument": doc, "position": _position(rng), "context": {"triggerKind": 1}}
    elif method == "workspace/executeCommand":
        arg = {"textDocument": doc, "position": _position(rng)}
        params = {"command": rng.choice(["qinet.status", "qinet.detectLanguage", "qinet.continueText",
                                         "qinet.nope"]),
                  "arguments": rng.choice([[arg], [], [arg, arg], _junk(rng)])}
    elif method == "textDocument/didChange":
        change: Any = {"text": rng.choice(TEXTS)}
        if rng.random() < 0.5:
            change["range"] = {"start": _position(rng), "end": _position(rng)}
        params = {"textDocument": {**doc, "version": rng.randrange(100)}, "contentChanges": [change]}
    elif method == "textDocument/didOpen":
        params = {"textDocument": {**doc, "languageId": "plaintext", "version": 1,
                                   "text": rng.choice(TEXTS)}}
    else:
        params = {"textDocument": doc, "id": _junk(rng)}
    return params if rng.random() < 0.85 else _junk(rng)


REQUESTS = ["textDocument/inlineCompletion", "textDocument/completion", "workspace/executeCommand",
            "textDocument/hover", "qinet/unknown"]
NOTIFICATIONS = ["textDocument/didChange", "textDocument/didOpen", "textDocument/didClose",
                 "$/cancelRequest", "$/unknown", "qinet/unknown"]


def _message(rng: random.Random, rid: int) -> tuple[bytes, str]:
    """One frame body and what it should get back: "response", "null-error" or "nothing"."""
    roll = rng.random()
    if roll < 0.45:
        method = rng.choice(REQUESTS)
        return encode({"id": rng.choice([rid, f"s{rid}"]), "method": method,
                       "params": _params(rng, method)}), "response"
    if roll < 0.75:
        method = rng.choice(NOTIFICATIONS)
        return encode({"method": method, "params": _params(rng, method)}), "nothing"
    if roll < 0.80:  # a well-formed request that breaks the rules of JSON-RPC itself
        bad = rng.choice([{"jsonrpc": "1.0", "id": rid, "method": "textDocument/hover"},
                          {"jsonrpc": "2.0", "id": rid, "method": 5}])
        return json.dumps(bad).encode(), "response"
    body = encode({"id": rid, "method": "textDocument/completion", "params": {}})
    broken = rng.choice([
        body[: rng.randrange(1, len(body))],  # truncated
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),  # random bytes
        b"[" * 100_000 + b"]" * 100_000,  # too deep for a recursive parser
        b"1" * 5000,  # an integer too long to convert
        json.dumps(rng.choice([[1, 2], "text", None, 3.5])).encode(),  # not an object
        json.dumps({"jsonrpc": "2.0", "id": rng.choice([1.5, True, None, {"a": 1}, [1]]),
                    "method": "textDocument/hover"}).encode(),  # an id of the wrong type
    ])
    try:
        if isinstance(json.loads(broken), dict) and "id" not in json.loads(broken):
            return broken, "nothing"
    except (ValueError, RecursionError):
        pass
    return broken, "null-error"


async def test_5000_fuzzed_messages_are_each_answered_and_the_server_keeps_serving(
        tiny_checkpoint: Path) -> None:
    rng = random.Random(20250607)
    async with raw_session({"checkpoint": str(tiny_checkpoint), **FAST}) as s:
        for uri in URIS[:4]:
            s.open(uri, rng.choice(TEXTS))
        expected: dict[str, int] = {"response": 0, "null-error": 0, "nothing": 0}
        waiting, frames = [], []
        for rid in range(1000, 1000 + N_MESSAGES):
            body, answer = _message(rng, rid)
            expected[answer] += 1
            if answer == "response":
                waiting.append(s.expect(json.loads(body)["id"]))
            frames.append(frame(body))
        s.write(b"".join(frames))
        await s.drain()
        answers = await asyncio.wait_for(asyncio.gather(*waiting), 240)
        status = await s.command("qinet.status")
        assert status["result"]["state"] == "ready"
        s.open("file:///after.txt", "The cat ")
        assert await s.inline("file:///after.txt", end_of("The cat ")), "no ghost text after the fuzz"
        for a in answers:
            assert ("result" in a) != ("error" in a), a
            assert "error" not in a or isinstance(a["error"].get("code"), int), a
        errors = [a["error"] for a in answers if "error" in a]
        internal = [e["message"][-300:] for e in errors if e["code"] == -32603]
        assert not internal, f"{len(internal)} requests failed inside the server: {internal[:3]}"
        assert len(s.null_id_errors) == expected["null-error"], s.null_id_errors[-3:]
        assert all(e["error"]["code"] in (-32700, -32600) for e in s.null_id_errors)
        shown = s.messages()
        assert len(shown) <= 110, f"the user was shown {len(shown)} messages"
        assert not [m for m in shown if "could not handle" in m], shown  # no handler failed
        assert s.proc.returncode is None
        print(f"\nfuzz: {N_MESSAGES} messages ({expected['response']} requests, {len(errors)} answered with "
              f"an error; {expected['null-error']} unreadable, each answered with a null-id error; "
              f"{expected['nothing']} notifications), 0 crashes, {len(shown)} messages shown")
        assert await s.shutdown() == 0


async def test_a_wrong_content_length_loses_at_most_the_next_frame(tiny_checkpoint: Path) -> None:
    async with raw_session({"checkpoint": str(tiny_checkpoint)}) as s:
        status = encode({"id": "x", "method": "workspace/executeCommand",
                         "params": {"command": "qinet.status"}})
        cases = {
            "short": b"Content-Length: %d\r\n\r\n%s" % (len(status) - 9, status),
            "long": b"Content-Length: %d\r\n\r\n%s" % (len(status) + 9, status),
            "huge": b"Content-Length: 999999999999999\r\n\r\n%s" % status,
            "not a number": b"Content-Length: lots\r\n\r\n%s" % status,
            "no header": b"\r\n%s\r\n" % status,
            "lower case, extra header": b"content-length:%d\r\nContent-Type: x\r\n\r\n%s"
                                        % (len(status), status),
        }
        for name, raw in cases.items():
            s.write(raw)
            futures = [s.request("workspace/executeCommand", {"command": "qinet.status"})
                       for _ in range(3)]
            await s.drain()
            last = await asyncio.wait_for(futures[-1], 30)  # resynchronised by then
            assert last["result"]["state"] == "ready", (name, last)
            assert sum(f.done() for f in futures) >= 2, name
            for f in futures:
                f.cancel()
        assert s.null_id_errors, "a broken frame should be answered with a null-id error"
        assert await s.shutdown() == 0


async def test_requests_before_initialize_and_after_shutdown_get_errors(tiny_checkpoint: Path) -> None:
    s = await RawSession.start({"checkpoint": str(tiny_checkpoint)})
    try:
        early = await s.command("qinet.status", timeout_s=30)
        assert early["error"]["code"] == -32002 and "initialize" in early["error"]["message"]
        s.open("file:///early.txt", "dropped")  # a notification before initialize is dropped
        await s.initialize()
        await s.wait_state("ready")
        pos: Message = {"line": 0, "character": 3}
        late = await asyncio.wait_for(s.inline_request("file:///early.txt", pos), 30)
        assert "not open" in late["error"]["message"]
        assert (await s.call("shutdown"))["result"] is None
        after = await s.command("qinet.status", timeout_s=30)
        assert after["error"]["code"] == -32600 and "shutting down" in after["error"]["message"]
        s.notify("exit")
        await s.drain()
        assert await asyncio.wait_for(s.proc.wait(), 30) == 0
    finally:
        await s.close()
