"""Continue Text end to end: versioned edits, stale documents, progress and cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from .lsp_session import end_position, lsp_session, open_doc, replace_doc


def _arg(uri: str, pos: types.Position, settings: dict | None = None) -> dict[str, Any]:
    arg: dict[str, Any] = {"textDocument": {"uri": uri},
                           "position": {"line": pos.line, "character": pos.character}}
    if settings is not None:
        arg["settings"] = settings
    return arg


def _record_edits(client: Any, applied: bool = True) -> list[types.ApplyWorkspaceEditParams]:
    edits: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=applied)

    return edits


async def _continue(client: Any, arg: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="qinet.continueText", arguments=[arg]))
    return result


@pytest.mark.parametrize("editor", ["visual-studio-code", "neovim"])
async def test_continue_text_inserts_with_a_versioned_edit_and_progress(editor: str,
                                                                        trained_checkpoint: Path) -> None:
    """Document: 'The cat sat on the mat. ' — Continue Text at the end."""
    settings = {"checkpoint": str(trained_checkpoint), "continue": {"maxChars": 80}}
    async with lsp_session(editor, settings) as client:
        edits = _record_edits(client)
        text = "The cat sat on the mat. "
        open_doc(client, "file:///a.txt", text, version=7)
        enc = "utf-8" if editor == "neovim" else "utf-16"
        result = await _continue(client, _arg("file:///a.txt", end_position(text, enc)))
        assert result["applied"] is True and 0 < len(result["text"]) <= 80
        [params] = edits
        change = params.edit.document_changes[0] if params.edit.document_changes else None
        if change is not None:  # the client supports documentChanges: a versioned edit
            assert change.text_document.version == 7
            [edit] = change.edits
        else:
            [edit] = params.edit.changes["file:///a.txt"]
        assert edit.range.start == edit.range.end == end_position(text, enc)
        assert edit.new_text == result["text"]
        if editor == "visual-studio-code":
            assert change is not None
            kinds = [type(v).__name__ for reports in client.progress_reports.values() for v in reports]
            assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"


async def test_per_call_settings_override_and_temperature_zero_repeats(trained_checkpoint: Path) -> None:
    async with lsp_session("visual-studio-code", {"checkpoint": str(trained_checkpoint)}) as client:
        _record_edits(client)
        text = "The dog sat on the "
        open_doc(client, "file:///a.txt", text)
        over = {"sampling": {"temperature": 0}, "continue": {"maxChars": 12, "stopAt": "none"}}
        first = await _continue(client, _arg("file:///a.txt", end_position(text), over))
        second = await _continue(client, _arg("file:///a.txt", end_position(text), over))
        assert first["text"] == second["text"] and len(first["text"]) <= 12


async def test_stale_edit_is_not_applied_and_the_text_is_returned(trained_checkpoint: Path) -> None:
    settings = {"checkpoint": str(trained_checkpoint),
                "continue": {"maxChars": 20000, "stopAt": "none"}, "sampling": {"temperature": 1.0}}
    async with lsp_session("visual-studio-code", settings) as client:
        edits = _record_edits(client)
        text = "The cat sat on the mat. "
        open_doc(client, "file:///a.txt", text)
        task = asyncio.ensure_future(_continue(client, _arg("file:///a.txt", end_position(text))))
        await asyncio.sleep(0.05)  # the server is sampling 20,000 characters (about a second)
        replace_doc(client, "file:///a.txt", "Someone typed here. " + text, 2)
        result = await task
        assert result["applied"] is False and result["reason"] == "document_changed"
        assert len(result["text"]) > 0
        assert edits == []
        assert any("not inserted" in m.message for m in client.messages)


async def test_edit_rejected_by_the_editor_is_reported(trained_checkpoint: Path) -> None:
    async with lsp_session("visual-studio-code", {"checkpoint": str(trained_checkpoint)}) as client:
        _record_edits(client, applied=False)
        open_doc(client, "file:///a.txt", "The cat ")
        result = await _continue(client, _arg("file:///a.txt", end_position("The cat ")))
        assert result["applied"] is False and result["text"]
        assert any("did not accept" in m.message for m in client.messages)


async def test_progress_cancel_stops_continue_text_early(trained_checkpoint: Path) -> None:
    settings = {"checkpoint": str(trained_checkpoint), "continue": {"maxChars": 20000, "stopAt": "none"}}
    async with lsp_session("visual-studio-code", settings) as client:
        edits = _record_edits(client)
        open_doc(client, "file:///a.txt", "The cat ")
        task = asyncio.ensure_future(_continue(client, _arg("file:///a.txt", end_position("The cat "))))
        for _ in range(200):
            if client.progress_reports:
                break
            await asyncio.sleep(0.02)
        [token] = list(client.progress_reports)
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        result = await task
        assert result["reason"] == "cancelled"
        assert len(result["text"]) < 20000
        assert len(edits) <= 1  # what was written before the cancel may still be inserted


async def test_cancel_request_stops_an_inline_completion(trained_checkpoint: Path) -> None:
    settings = {"checkpoint": str(trained_checkpoint),
                "inline": {"maxChars": 2000, "stopAt": "none", "candidates": 5}}
    async with lsp_session("visual-studio-code", settings) as client:
        open_doc(client, "file:///a.txt", "The cat ")
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///a.txt"),
            position=end_position("The cat "),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))
        request = asyncio.ensure_future(client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="slow-inline"))
        await asyncio.sleep(0.2)
        client.protocol.notify("$/cancelRequest", types.CancelParams(id="slow-inline"))
        with pytest.raises(Exception, match="cancel"):
            await request
        # The worker is free again: a small request is answered.
        small = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///a.txt"),
            position=end_position("The cat ")))
        assert small is not None


async def test_newer_request_for_the_same_document_supersedes_the_older(trained_checkpoint: Path) -> None:
    settings = {"checkpoint": str(trained_checkpoint), "inline": {"maxChars": 2000, "stopAt": "none",
                                                                  "candidates": 5}}
    async with lsp_session("visual-studio-code", settings) as client:
        open_doc(client, "file:///a.txt", "The cat ")

        def request(msg_id: str) -> Any:
            return asyncio.ensure_future(client.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION,
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri="file:///a.txt"),
                    position=end_position("The cat "),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic)),
                msg_id=msg_id))

        old = request("old")
        await asyncio.sleep(0.2)
        new = request("new")
        old_result = await old
        assert not old_result.items  # superseded: stopped between bytes, nothing shown
        new_result = await new
        assert new_result.items
