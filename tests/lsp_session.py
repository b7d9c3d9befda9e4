"""Start the real `qinet-lsp` process and drive it with pytest-lsp's client."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

SERVER_ARGS: list[str] = []  # e.g. ["-v", "--log-file", "/tmp/qinet.log"] when debugging


@asynccontextmanager
async def lsp_session(editor: str = "visual-studio-code", settings: dict[str, Any] | None = None,
                      configuration: dict[str, Any] | None = None,
                      wait: bool = True) -> AsyncIterator[LanguageClient]:
    """A client with `editor`'s recorded capabilities, `settings` as initializationOptions
    and `configuration` answered to workspace/configuration (section "qinet")."""
    client = make_test_lsp_client()
    client.statuses: list[dict[str, Any]] = []  # type: ignore[attr-defined]
    client.feature("qinet/status")(lambda params: client.statuses.append(params))  # type: ignore[attr-defined]
    if configuration is not None:
        client.set_configuration(configuration, section="qinet")
    await client.start_io(sys.executable, "-m", "qinet_lsp", *SERVER_ARGS)
    try:
        client.init_result = await client.initialize_session(types.InitializeParams(  # type: ignore[attr-defined]
            capabilities=client_capabilities(editor), initialization_options=settings or {}))
        if wait:
            await wait_for_state(client, "ready")
        yield client
        await asyncio.wait_for(client.shutdown_session(), 30)
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()  # a failed test must not leave the server (or the test) hanging
        await client.stop()


async def status(client: LanguageClient) -> dict[str, Any]:
    result: dict[str, Any] = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="qinet.status"))
    return result


async def wait_for_state(client: LanguageClient, state: str, checkpoint: str | None = None,
                         timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        info = await status(client)
        if info["state"] == state and (checkpoint is None or info["checkpoint"] == checkpoint):
            return info
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"server never reached {state!r}: {info}")
        await asyncio.sleep(0.05)


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="plaintext", version=version,
                                             text=text)))


def replace_doc(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def end_position(text: str, encoding: str = "utf-16") -> types.Position:
    from qinet_lsp.context import position_at

    line, character = position_at(text, len(text), encoding)
    return types.Position(line=line, character=character)


async def inline(client: LanguageClient, uri: str, position: types.Position) -> list[str]:
    result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=position,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
    if result is None:
        return []
    items = result.items if isinstance(result, types.InlineCompletionList) else result
    for item in items:
        assert item.range == types.Range(start=position, end=position)
    return [str(item.insert_text) for item in items]
