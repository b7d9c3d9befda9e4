"""Settings over LSP (initializationOptions, pull, push), model reloads, bad values, and
positions in utf-8/utf-16 documents with multi-byte and astral characters."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from qinet_lsp.checkpoint import save_checkpoint

from .conftest import tiny_model
from .lsp_session import end_position, inline, lsp_session, open_doc, status, wait_for_state


async def test_settings_are_pulled_after_initialized_and_on_change(trained_checkpoint: Path) -> None:
    config = {"checkpoint": str(trained_checkpoint), "inline": {"maxChars": 7}}
    async with lsp_session("visual-studio-code", {}, configuration=config) as client:
        info = await status(client)
        assert info["settings"]["inline"]["maxChars"] == 7  # pulled, overriding the defaults
        assert info["checkpoint"] == str(trained_checkpoint)
        client.set_configuration({"checkpoint": str(trained_checkpoint), "inline": {"maxChars": 9}},
                                 section="qinet")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(100):
            if (await status(client))["settings"]["inline"]["maxChars"] == 9:
                break
        else:
            pytest.fail("workspace/didChangeConfiguration did not pull the new value")


async def test_pushed_settings_change_the_output(trained_checkpoint: Path) -> None:
    settings = {"checkpoint": str(trained_checkpoint), "sampling": {"temperature": 0},
                "inline": {"stopAt": "none", "maxChars": 40}}
    async with lsp_session("neovim", settings) as client:
        text = "The cat sat on the "
        open_doc(client, "file:///a.txt", text)
        pos = end_position(text, "utf-8")
        [long] = await inline(client, "file:///a.txt", pos)
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"qinet": {**settings, "inline": {"stopAt": "none", "maxChars": 4}}}))
        short = await inline(client, "file:///a.txt", pos)
        assert len(long) > 4 and all(len(s) <= 4 for s in short)


async def test_bad_values_are_reported_once_and_the_last_good_value_stays(trained_checkpoint: Path) -> None:
    settings = {"checkpoint": str(trained_checkpoint), "sampling": {"temperature": 0.2}}
    async with lsp_session("visual-studio-code", settings) as client:
        bad = {"qinet": {**settings, "sampling": {"temperature": -3, "topP": 7}}}
        for _ in range(2):
            client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=bad))
        info = await status(client)
        assert info["settings"]["sampling"]["temperature"] == 0.2
        assert info["settings"]["sampling"]["topP"] == 0.95
        shown = [m.message for m in client.messages if "QINet settings" in m.message]
        assert len([m for m in shown if "temperature" in m]) == 1, shown
        assert len([m for m in shown if "topP" in m]) == 1, shown


async def test_changing_the_checkpoint_reloads_and_a_missing_one_keeps_the_old(
        trained_checkpoint: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    save_checkpoint(other, tiny_model(5), ["english", "kikuyu"])
    async with lsp_session("visual-studio-code", {"checkpoint": str(trained_checkpoint)}) as client:
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"qinet": {"checkpoint": str(other)}}))
        await wait_for_state(client, "ready", checkpoint=str(other))
        missing = str(tmp_path / "gone.pt")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"qinet": {"checkpoint": missing}}))
        info = await wait_for_state(client, "error")
        assert info["checkpoint"] == str(other)  # the old model keeps serving
        assert any("checkpoint not found" in m.message for m in client.messages)
        open_doc(client, "file:///a.txt", "The cat ")
        assert isinstance(await inline(client, "file:///a.txt", end_position("The cat ")), list)
        statuses = [s["state"] if isinstance(s, dict) else s.state for s in client.statuses]
        assert statuses[-1] == "error" and "ready" in statuses


async def test_requests_before_a_model_is_ready_return_empty_results(tmp_path: Path) -> None:
    async with lsp_session("visual-studio-code", {"checkpoint": str(tmp_path / "none.pt")},
                           wait=False) as client:
        await wait_for_state(client, "error")
        open_doc(client, "file:///a.txt", "The cat ")
        pos = end_position("The cat ")
        assert await inline(client, "file:///a.txt", pos) == []
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///a.txt"), position=pos))
        assert result.items == [] or list(result.items) == []
        done = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qinet.continueText",
            arguments=[{"textDocument": {"uri": "file:///a.txt"}, "position": {"line": 0, "character": 8}}]))
        assert done == {"text": "", "applied": False, "reason": "not_ready"}


async def test_malformed_command_arguments_get_a_plain_error(trained_checkpoint: Path) -> None:
    async with lsp_session("visual-studio-code", {"checkpoint": str(trained_checkpoint)}) as client:
        with pytest.raises(Exception, match="textDocument"):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="qinet.continueText", arguments=[{"position": {"line": 0}}]))
        with pytest.raises(Exception, match="not open"):
            await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="qinet.detectLanguage",
                arguments=[{"textDocument": {"uri": "file:///never.txt"},
                            "position": {"line": 0, "character": 0}}]))
        assert (await status(client))["state"] == "ready"  # still serving


@pytest.mark.parametrize(("editor", "encoding"), [("neovim", "utf-8"), ("visual-studio-code", "utf-16")])
async def test_ranges_are_right_in_a_gikuyu_and_emoji_document(editor: str, encoding: str,
                                                             trained_checkpoint: Path) -> None:
    """Document: '🙂 Mũndũ ũmwe nĩ mwe' on line 1, after an emoji-only line 0."""
    text = "🙂🚀 漢字\n🙂 Mũndũ ũmwe nĩ mwe"
    units = {"utf-8": lambda s: len(s.encode()),
             "utf-16": lambda s: len(s.encode("utf-16-le")) // 2}[encoding]
    async with lsp_session(editor, {"checkpoint": str(trained_checkpoint)}) as client:
        open_doc(client, "file:///k.txt", text)
        line1 = text.split("\n")[1]
        end = types.Position(line=1, character=units(line1))
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///k.txt"), position=end))
        assert result.items
        start = types.Position(line=1, character=units(line1[: -len("mwe")]))
        for item in result.items:
            assert item.text_edit.range == types.Range(start=start, end=end)
            assert item.label.startswith("mwe")
        ghost = await inline(client, "file:///k.txt", end)  # also checks the range is the cursor
        assert all(isinstance(g, str) for g in ghost)
