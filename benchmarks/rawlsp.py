"""A plain JSON-RPC/LSP client over a child process's stdio, for benchmarks.

No LSP library in between: requests are sent with explicit ids, `$/cancelRequest` is sent
when asked, and each response is stamped with `time.perf_counter()` the moment its frame is
read, so latencies are what an editor would see. The server's own requests are answered the
way a plain editor would (configuration from `settings`, applyEdit applied to nothing and
accepted, progress creation accepted).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    id: int
    sent: float
    received: float = 0.0
    result: Any = None
    error: dict[str, Any] | None = None

    @property
    def latency_ms(self) -> float:
        return (self.received - self.sent) * 1000


@dataclass
class RawClient:
    proc: asyncio.subprocess.Process
    settings: dict[str, Any] = field(default_factory=dict)
    notifications: list[tuple[float, str, Any]] = field(default_factory=list)
    edits: list[Any] = field(default_factory=list)
    _next_id: int = 0
    _waiting: dict[int, tuple[Response, asyncio.Future[Response]]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *argv: str, settings: dict[str, Any] | None = None) -> RawClient:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        client = cls(proc, settings or {})
        client._reader = asyncio.create_task(client._read_loop())
        return client

    # ---- sending --------------------------------------------------------------------

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def notify(self, method: str, params: Any = None) -> None:
        self._write({"method": method, "params": params})

    def request(self, method: str, params: Any = None) -> tuple[int, asyncio.Future[Response]]:
        """Send a request now; the future resolves with its Response."""
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = (Response(rid, time.perf_counter()), fut)
        self._write({"id": rid, "method": method, "params": params})
        return rid, fut

    async def call(self, method: str, params: Any = None, timeout_s: float = 120) -> Response:
        _, fut = self.request(method, params)
        return await asyncio.wait_for(fut, timeout_s)

    def cancel(self, rid: int) -> None:
        self.notify("$/cancelRequest", {"id": rid})

    # ---- receiving ------------------------------------------------------------------

    async def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while (line := await out.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if not line:
                return
            message = json.loads(await out.readexactly(length))
            now = time.perf_counter()
            if "method" in message:
                self._on_server_message(now, message)
            elif (entry := self._waiting.pop(message.get("id"), None)) is not None:
                response, fut = entry
                response.received, response.result = now, message.get("result")
                response.error = message.get("error")
                if not fut.done():
                    fut.set_result(response)

    def _on_server_message(self, now: float, message: dict[str, Any]) -> None:
        method, params = message["method"], message.get("params")
        if "id" not in message:
            self.notifications.append((now, method, params))
            return
        result: Any = None
        if method == "workspace/configuration":
            result = [self.settings for _ in params.get("items", [])]
        elif method == "workspace/applyEdit":
            self.edits.append(params)
            result = {"applied": True}
        self._write({"id": message["id"], "result": result})

    async def wait_notification(self, method: str, predicate: Any = None,
                                timeout_s: float = 120) -> Any:
        deadline = time.perf_counter() + timeout_s
        seen = 0
        while time.perf_counter() < deadline:
            for _, m, params in self.notifications[seen:]:
                if m == method and (predicate is None or predicate(params)):
                    return params
            seen = len(self.notifications)
            await asyncio.sleep(0.005)
        raise TimeoutError(f"no {method} notification within {timeout_s} s")

    async def close(self) -> None:
        try:
            await self.call("shutdown", None, timeout_s=10)
            self.notify("exit")
            await asyncio.wait_for(self.proc.wait(), 10)
        except (TimeoutError, asyncio.TimeoutError, ConnectionError):
            self.proc.kill()
        if self._reader is not None:
            self._reader.cancel()


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, in MB (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
