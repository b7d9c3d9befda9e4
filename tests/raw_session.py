"""The real `qinet-lsp` process with a bare JSON-RPC client on its stdio, for abuse tests
and for the LSP benchmark (benchmarks/lsp_latency.py imports it).

Unlike pytest-lsp's client this one can write any bytes (broken frames, invalid JSON, invalid
UTF-8), sends its own ids, and keeps every frame the server writes: responses by id, errors
with a null id, notifications, and the server's own requests (answered like a plain editor:
configuration from `settings`, applyEdit by `on_apply_edit`, everything else with null). Each
request's send time and its response's arrival (`time.perf_counter()`, stamped the moment the
frame is read) are kept, so latencies are what an editor would see.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from qinet_lsp.context import position_at

Message = dict[str, Any]
EDITOR_CAPABILITIES: Message = {
    "general": {"positionEncodings": ["utf-8", "utf-16"]},
    "workspace": {"configuration": True, "applyEdit": True,
                  "workspaceEdit": {"documentChanges": True}},
    "window": {"workDoneProgress": True},
    "textDocument": {"inlineCompletion": {}, "completion": {}},
}


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def encode(message: Message) -> bytes:
    return json.dumps({"jsonrpc": "2.0", **message}).encode()


def end_of(text: str, encoding: str = "utf-8") -> Message:
    line, character = position_at(text, len(text), encoding)
    return {"line": line, "character": character}


@dataclass
class RawSession:
    proc: asyncio.subprocess.Process
    settings: Message = field(default_factory=dict)
    on_apply_edit: Callable[[Any], bool | None] = lambda params: True  # None: never answer
    responses: dict[str, Message] = field(default_factory=dict)  # by json.dumps(id)
    null_id_errors: list[Message] = field(default_factory=list)
    notifications: list[Message] = field(default_factory=list)
    _waiting: dict[Any, asyncio.Future[Message]] = field(default_factory=dict)
    init_response: Message = field(default_factory=dict)
    sent_at: dict[str, float] = field(default_factory=dict)  # by json.dumps(id)
    received_at: dict[str, float] = field(default_factory=dict)
    _next_id: int = 0
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Message | None = None, env: dict[str, str] | None = None,
                    on_apply_edit: Callable[[Any], bool | None] | None = None) -> RawSession:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "qinet_lsp", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, limit=2**26)
        session = cls(proc, settings or {})
        if on_apply_edit is not None:
            session.on_apply_edit = on_apply_edit
        session._reader = asyncio.create_task(session._read_frames())
        return session

    # ---- writing --------------------------------------------------------------------

    def write(self, raw: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(raw)

    async def drain(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.drain()

    def send(self, message: Message) -> None:
        self.write(frame(encode(message)))

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: str, params: Any = None, rid: Any = None) -> asyncio.Future[Message]:
        """Send a request; the future resolves with the server's response frame."""
        rid = self.next_id() if rid is None else rid
        future = self.expect(rid)
        self.sent_at[json.dumps(rid)] = time.perf_counter()
        self.send({"id": rid, "method": method, "params": params})
        return future

    def cancel(self, rid: Any) -> None:
        self.notify("$/cancelRequest", {"id": rid})

    def latency_ms(self, rid: Any) -> float:
        """Request sent -> response frame read, in ms."""
        key = json.dumps(rid)
        return (self.received_at[key] - self.sent_at[key]) * 1000

    def expect(self, rid: Any) -> asyncio.Future[Message]:
        """A future for the response to `rid` (for requests written by hand)."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        if (key := json.dumps(rid)) in self.responses:
            future.set_result(self.responses[key])
        else:
            self._waiting[key] = future
        return future

    async def call(self, method: str, params: Any = None, timeout_s: float = 60) -> Message:
        return await asyncio.wait_for(self.request(method, params), timeout_s)

    # ---- reading --------------------------------------------------------------------

    async def _read_frames(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = -1
                while (line := await out.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if not line:
                    return
                self._on_frame(json.loads(await out.readexactly(length)))
        except Exception as exc:  # a bad frame, or a test's callback failed: fail the waiters
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(exc)
            raise

    def _on_frame(self, message: Message) -> None:
        if "method" in message and "id" in message:
            self._answer(message)
        elif "method" in message:
            self.notifications.append(message)
        elif message.get("id") is None:
            self.null_id_errors.append(message)
        else:
            key = json.dumps(message["id"])
            self.received_at[key] = time.perf_counter()
            self.responses[key] = message
            future = self._waiting.pop(key, None)
            if future is not None and not future.done():
                future.set_result(message)

    def _answer(self, message: Message) -> None:
        method, params = message["method"], message.get("params") or {}
        result: Any = None
        if method == "workspace/configuration":
            result = [self.settings for _ in params.get("items", [])]
        elif method == "workspace/applyEdit":
            applied = self.on_apply_edit(params)
            if applied is None:
                return  # an editor that never answers
            result = {"applied": applied}
        self.send({"id": message["id"], "result": result})

    # ---- the session ----------------------------------------------------------------

    async def initialize(self, options: Any = None, capabilities: Message | None = None) -> Message:
        response = await self.call("initialize", {
            "processId": None, "rootUri": None, "capabilities": capabilities or EDITOR_CAPABILITIES,
            "initializationOptions": self.settings if options is None else options})
        self.notify("initialized", {})
        return response

    async def command(self, name: str, *arguments: Any, timeout_s: float = 60) -> Message:
        return await self.call("workspace/executeCommand",
                               {"command": name, "arguments": list(arguments)}, timeout_s)

    async def wait_state(self, state: str, timeout_s: float = 60) -> Message:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            info = (await self.command("qinet.status"))["result"]
            if info["state"] == state:
                return dict(info)
            if loop.time() > deadline:
                raise AssertionError(f"the server never reached {state!r}: {info}")
            await asyncio.sleep(0.05)

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "plaintext", "version": version, "text": text}})

    def replace(self, uri: str, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})

    def inline_request(self, uri: str, position: Message, rid: Any = None) -> asyncio.Future[Message]:
        return self.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": position,
            "context": {"triggerKind": 2}}, rid)

    async def inline(self, uri: str, position: Message) -> list[str]:
        """The ghost texts at `position` (raises on an error response)."""
        response = await asyncio.wait_for(self.inline_request(uri, position), 60)
        assert "error" not in response, response
        result = response["result"] or {"items": []}
        return [item["insertText"] for item in result["items"]]

    def messages(self, kind: str = "window/showMessage") -> list[str]:
        return [n["params"]["message"] for n in self.notifications if n["method"] == kind]

    async def wait_notification(self, method: str, predicate: Callable[[Any], bool] | None = None,
                                timeout_s: float = 120) -> Any:
        """The params of the first `method` notification (so far or to come) that `predicate`
        accepts."""
        loop = asyncio.get_running_loop()
        deadline, seen = loop.time() + timeout_s, 0
        while loop.time() < deadline:
            for n in self.notifications[seen:]:
                if n["method"] == method and (predicate is None or predicate(n.get("params"))):
                    return n.get("params")
            seen = len(self.notifications)
            await asyncio.sleep(0.005)
        raise TimeoutError(f"no {method} notification within {timeout_s} s")

    def rss_mb(self, peak: bool = False) -> float:
        """Resident set of the server process now (or its peak, VmHWM), in MB (Linux)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:" if peak else "VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    async def shutdown(self, timeout_s: float = 30) -> int:
        """shutdown + exit; the process's exit status."""
        response = await self.call("shutdown", None, timeout_s)
        assert response.get("result", "missing") is None, response
        self.notify("exit")
        await self.drain()
        return await asyncio.wait_for(self.proc.wait(), timeout_s)

    async def close(self) -> None:
        """Never leave the process behind, whatever the test did."""
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


@asynccontextmanager
async def raw_session(settings: Message | None = None, env: dict[str, str] | None = None,
                      on_apply_edit: Callable[[Any], bool | None] | None = None,
                      ready: bool = True) -> AsyncIterator[RawSession]:
    """An initialized session (waiting for the model unless `ready` is False); the process
    never outlives the test."""
    session = await RawSession.start(settings, env, on_apply_edit)
    try:
        session.init_response = await session.initialize()
        if ready:
            await session.wait_state("ready")
        yield session
    finally:
        await session.close()
