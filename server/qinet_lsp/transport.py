"""JSON-RPC over stdio that survives a misbehaving client. No model code here.

pygls reads frames and hands them to its protocol; on its own it answers nothing to a request
whose params do not fit the method, to invalid JSON, or to a request sent before
``initialize`` or after ``shutdown``, so the editor would wait for ever. Here every request
gets a result or a JSON-RPC error:

* a body that is not JSON: ParseError (id null); not an object, a bad id or ``jsonrpc``:
  InvalidRequest; params of the wrong shape: InvalidParams naming the field;
* before ``initialize``: ServerNotInitialized (notifications dropped, except ``exit``);
  after ``shutdown``: InvalidRequest;
* bytes that are not UTF-8 become U+FFFD (the document still opens), with a warning;
* framing: ``Content-Length`` is found case-insensitively anywhere in a header line, so after
  a frame with a wrong length the stream resynchronises at the next header; a length over
  MAX_MESSAGE_BYTES is refused without reading (or allocating) it.

Frames are read on a daemon thread (so a blocked read never holds up exit) and handled on
the event loop one at a time, each followed by one loop turn, like pygls's own loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import traceback
from collections.abc import Callable, Generator
from typing import Any, BinaryIO

from cattrs import transform_error
from cattrs.errors import ClassValidationError
from lsprotocol.types import (
    CANCEL_REQUEST,
    EXIT,
    INITIALIZE,
    SHUTDOWN,
    TEXT_DOCUMENT_DID_CHANGE,
    TEXT_DOCUMENT_DID_CLOSE,
    ErrorCodes,
    ResponseError,
    ResponseErrorMessage,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage
from pygls.protocol.language_server import lsp_method

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 2**20  # a 10 MB document escaped as JSON fits many times over
MAX_HEADER_LINE = 8192
READ_CHUNK = 2**20
_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d{1,15})(?!\d)", re.IGNORECASE)


class BadMessage(Exception):
    """A message that cannot be handled; `code` is the JSON-RPC error to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class QinetProtocol(LanguageServerProtocol):
    """pygls's protocol, with every request answered (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialize_seen = False
        self._children: dict[Any, list[Any]] = {}  # request id -> the tasks it started
        # Tells the user about a problem once per key (server.py).
        self.on_problem: Callable[[str, str], None] = lambda text, key: None

    def receive(self, body: bytes) -> None:
        """Handle one frame's body."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("utf-8", errors="replace")
            self.on_problem("a message from the editor was not valid UTF-8; the invalid bytes "
                            "were replaced with U+FFFD", "utf-8")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.reply_error(None, ErrorCodes.ParseError, f"the message is not valid JSON ({exc})")
            return
        try:
            message = self._check(data)
        except BadMessage as exc:
            rid = data.get("id") if isinstance(data, dict) else None
            if isinstance(data, dict) and "method" in data and "id" not in data:
                # A notification gets no answer: tell the user once per method.
                self.on_problem(f"ignored a notification from the editor: {exc}",
                                f"invalid {data['method']}")
            else:
                self.reply_error(rid if _valid_id(rid) else None, exc.code, str(exc))
            return
        if message is None:
            return
        try:
            self.handle_message(message)  # (pygls answers a failing request with an error)
        except Exception as exc:
            log.warning("could not handle a message: %s", exc, exc_info=True)
            self.on_problem(f"could not handle a message from the editor ({_explain(exc)})",
                            type(exc).__name__)

    # ---- requests that pygls runs in two parts ---------------------------------------
    # pygls runs executeCommand (and shutdown) as a generator that starts the command's
    # coroutine as a separate task; cancelling the request cancelled only the outer part, so
    # a cancelled Continue Text went on writing and inserting. Here the inner task is cancelled
    # with it, and shutdown no longer fails when that cancelling changes the table of requests.

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None,
                         kwargs: Any = None) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)  # type: ignore[no-untyped-call]
        parent, child = self.msg_id, self._request_futures.get(msg_id)
        if parent is not None and parent != msg_id and child is not None:
            children = self._children.setdefault(parent, [])
            children.append(child)
            child.add_done_callback(lambda f: self._forget_child(parent, f))

    def _forget_child(self, parent: Any, child: Any) -> None:
        children = self._children.get(parent, [])
        if child in children:
            children.remove(child)
        if not children:
            self._children.pop(parent, None)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        for child in list(self._children.get(msg_id, [])):
            child.cancel()
        super()._handle_cancel_notification(msg_id)  # type: ignore[no-untyped-call]

    @lsp_method(SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(SHUTDOWN)) is not None:
            yield user_handler, args, None
        current = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    def _handle_notification(self, method_name: str, params: Any) -> None:
        if method_name in (TEXT_DOCUMENT_DID_CHANGE, TEXT_DOCUMENT_DID_CLOSE):
            uri = getattr(getattr(params, "text_document", None), "uri", None)
            if not isinstance(uri, str) or uri not in self.workspace.text_documents:
                self.on_problem(f"ignored {method_name} for {str(uri)[:100]}, which the editor "
                                "never opened (or already closed)", f"not open {method_name}")
                return
        if method_name == CANCEL_REQUEST and not _valid_id(getattr(params, "id", None)):
            self.on_problem("ignored $/cancelRequest: its id is not a string or an integer",
                            "bad cancel id")
            return
        super()._handle_notification(method_name, params)  # type: ignore[no-untyped-call]

    def _check(self, data: Any) -> Any:
        """The structured message, None to drop it, or BadMessage."""
        if not isinstance(data, dict):
            raise BadMessage(ErrorCodes.InvalidRequest, "a message must be a JSON object")
        if "id" in data and not _valid_id(data["id"]):
            raise BadMessage(ErrorCodes.InvalidRequest, "the id must be a string or an integer")
        if data.get("jsonrpc") != "2.0":
            raise BadMessage(ErrorCodes.InvalidRequest, '"jsonrpc" must be "2.0"')
        method = data.get("method")
        if "method" in data and not isinstance(method, str):
            raise BadMessage(ErrorCodes.InvalidRequest, "the method must be a string")
        request = "id" in data and method is not None
        if method is not None and method != EXIT:
            if not self.initialize_seen and method != INITIALIZE:
                if request:
                    raise BadMessage(ErrorCodes.ServerNotInitialized, "the server is not "
                                     f"initialized yet (send `initialize` before {method})")
                return None
            if self._shutdown:
                if request:
                    raise BadMessage(ErrorCodes.InvalidRequest, f"the server is shutting down; "
                                     f"{method} was not run (only `exit` is accepted now)")
                return None
        if method is None and "result" not in data and "error" not in data:
            raise BadMessage(ErrorCodes.InvalidRequest, "a message needs a method, a result or "
                             "an error")
        message = self.structure_message(data)
        if method == INITIALIZE and request:
            self.initialize_seen = True
        return message

    def structure_message(self, data: Any) -> Any:
        """pygls's, without a traceback on stderr per bad message, and with the reason."""
        if not isinstance(data, dict) or "jsonrpc" not in data:
            return data  # (also used by pygls's TCP reader as a json object_hook)
        method = data.get("method")
        kind: Any
        if "id" in data and "error" in data:
            kind = ResponseErrorMessage
        elif "id" in data and method is not None:
            kind = self.get_message_type(method) or JsonRPCRequestMessage
        elif "id" in data:
            kind = self._result_types.pop(data["id"], None) or JsonRPCResponseMessage
        else:
            kind = self.get_message_type(method) or JsonRPCNotification
        try:
            return self._converter.structure(data, kind)
        except Exception as exc:
            why = _explain(exc)
            log.debug("bad message %s\n%s", why, traceback.format_exc())
            if "id" in data and method is None and "error" not in data:
                # A response of the wrong shape to one of our requests: fail that request.
                self._handle_response(data["id"], None, ResponseError(
                    code=ErrorCodes.InvalidParams, message=f"the editor's answer is invalid: {why}"))
                return None
            raise BadMessage(ErrorCodes.InvalidParams,
                             f"invalid params for {method or 'a response'}: {why}") from exc

    def reply_error(self, rid: Any, code: int, message: str) -> None:
        log.warning("answering with error %d: %s", code, message)
        self._send_data({"jsonrpc": "2.0", "id": rid, "error": {"code": int(code),
                                                                  "message": message}})


def _valid_id(rid: Any) -> bool:
    return isinstance(rid, str) or (isinstance(rid, int) and not isinstance(rid, bool))


def _explain(exc: Exception) -> str:
    if isinstance(exc, ClassValidationError):
        return "; ".join(m.replace(" @ $.", " @ ") for m in transform_error(exc, path="$")[:3])[:300]
    return (str(exc) or type(exc).__name__)[:300]


def serve_stdio(protocol: QinetProtocol, stdin: BinaryIO) -> None:
    """Read frames from `stdin` until end of file (or `exit`, which raises SystemExit)."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()

        async def handle(body: bytes) -> None:
            protocol.receive(body)
            await asyncio.sleep(0)  # let the handler it started take its first step

        def deliver(body: bytes) -> None:  # on the reader thread
            asyncio.run_coroutine_threadsafe(handle(body), loop).result()

        def finish() -> None:
            if not finished.done():
                finished.set_result(None)

        def at_end() -> None:
            loop.call_soon_threadsafe(finish)

        reader = threading.Thread(target=read_frames, args=(stdin, deliver, protocol.reply_error,
                                                            at_end), name="qinet-stdin", daemon=True)
        reader.start()
        await finished

    asyncio.run(run())


def read_frames(stdin: BinaryIO, deliver: Callable[[bytes], None],
                reply_error: Callable[[Any, int, str], None], at_end: Callable[[], None]) -> None:
    """The framing loop (blocking; runs on its own thread)."""
    try:
        length: int | None = None
        while line := stdin.readline(MAX_HEADER_LINE):
            if match := _LENGTH.search(line):
                length = int(match.group(1))
            elif line.strip() or length is None:
                continue  # another header, or stray bytes between frames
            elif length > MAX_MESSAGE_BYTES:
                reply_error(None, ErrorCodes.InvalidRequest, f"a message of {length} bytes is "
                            f"over the limit of {MAX_MESSAGE_BYTES}; it was skipped")
                length = None
            else:
                body = _read_exactly(stdin, length)
                length = None
                if body is None:
                    break
                deliver(body)
    except Exception:  # the event loop is gone (exit) or stdin broke
        log.debug("stdin reader stopped", exc_info=True)
    finally:
        at_end()


def _read_exactly(stdin: BinaryIO, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n > 0:
        chunk = stdin.read(min(n, READ_CHUNK))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
