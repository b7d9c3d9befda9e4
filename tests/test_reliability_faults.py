"""Fault containment in the real server: an exception inside one request (injected with the
test-only QINET_LSP_FAULT_INJECT) fails that request only; shutdown and exit are clean with
requests in flight, and so is the editor vanishing (end of input)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .raw_session import RawSession, end_of, raw_session

TEXT = "The cat sat on the "
SLOW = {"inline": {"maxChars": 2000, "stopAt": "none", "candidates": 5},
        "continue": {"maxChars": 20000, "stopAt": "none"}}


def _where(uri: str) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": end_of(TEXT)}


async def test_an_exception_inside_one_request_fails_that_request_only(tiny_checkpoint: Path) -> None:
    settings = {"checkpoint": str(tiny_checkpoint), "continue": {"maxChars": 40}}
    async with raw_session(settings, env={"QINET_LSP_FAULT_INJECT": "boom"}) as s:
        s.open("file:///boom.txt", TEXT)
        s.open("file:///fine.txt", TEXT)
        for _ in range(5):
            bad = [s.inline_request("file:///boom.txt", end_of(TEXT)),
                   s.request("textDocument/completion", _where("file:///boom.txt")),
                   s.request("workspace/executeCommand", {"command": "qinet.continueText",
                                                          "arguments": [_where("file:///boom.txt")]})]
            good = [s.inline_request("file:///fine.txt", end_of(TEXT)),
                    s.request("workspace/executeCommand", {"command": "qinet.detectLanguage",
                                                           "arguments": [_where("file:///fine.txt")]})]
            for answer in await asyncio.wait_for(asyncio.gather(*bad), 60):
                assert answer["error"]["code"] == -32603, answer
                assert "injected fault" in answer["error"]["message"]
            for answer in await asyncio.wait_for(asyncio.gather(*good), 60):
                assert answer["result"], answer
        begun = {n["params"]["token"] for n in s.notifications
                 if n["method"] == "$/progress" and n["params"]["value"]["kind"] == "begin"}
        ended = {n["params"]["token"] for n in s.notifications
                 if n["method"] == "$/progress" and n["params"]["value"]["kind"] == "end"}
        assert len(begun) == 5 and begun == ended  # a failed Continue Text still ends its progress
        assert (await s.wait_state("ready"))["state"] == "ready"
        assert await s.shutdown() == 0


async def _start_work(s: RawSession) -> list[asyncio.Future[dict[str, Any]]]:
    """Slow requests on three documents, left running."""
    futures = []
    for i in range(3):
        uri = f"file:///busy{i}.txt"
        s.open(uri, TEXT)
        futures.append(s.request("workspace/executeCommand", {"command": "qinet.continueText",
                                                              "arguments": [_where(uri)]}))
        futures.append(s.inline_request(uri, end_of(TEXT)))
        futures.append(s.request("textDocument/completion", _where(uri)))
    await s.drain()
    await asyncio.sleep(0.3)  # the worker is busy writing 20,000 characters
    return futures


async def test_shutdown_and_exit_with_requests_in_flight_are_clean(tiny_checkpoint: Path) -> None:
    async with raw_session({"checkpoint": str(tiny_checkpoint), **SLOW}) as s:
        futures = await _start_work(s)
        response = await s.call("shutdown", None, 60)
        assert response.get("result", "missing") is None, response
        answers = await asyncio.wait_for(asyncio.gather(*futures), 60)  # none left hanging
        for a in answers:
            assert "result" in a or a["error"]["code"] in (-32800, -32600), a
        s.notify("exit")
        await s.drain()
        assert await asyncio.wait_for(s.proc.wait(), 60) == 0


async def test_exit_without_shutdown_and_end_of_input_stop_the_server(tiny_checkpoint: Path) -> None:
    for ending in ("exit", "eof"):
        session = await RawSession.start({"checkpoint": str(tiny_checkpoint), **SLOW})
        try:
            await session.initialize()
            await session.wait_state("ready")
            await _start_work(session)
            if ending == "exit":
                session.notify("exit")
                await session.drain()
            else:  # the editor crashed: its end of the pipe closes
                assert session.proc.stdin is not None
                session.proc.stdin.close()
            code = await asyncio.wait_for(session.proc.wait(), 60)
            assert code == (1 if ending == "exit" else 0), (ending, code)
        finally:
            await session.close()
