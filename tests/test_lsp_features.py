"""End to end: the real qinet-lsp process over stdio, driven by pytest-lsp with the recorded
capabilities of real editors. Fixture documents are written inline in each test."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from .lsp_session import end_position, inline, lsp_session, open_doc, replace_doc, status

EDITORS = ["visual-studio-code", "neovim"]
GREEDY = {"sampling": {"temperature": 0}}


def _settings(ckpt: Path, **extra: object) -> dict:
    return {"checkpoint": str(ckpt), **extra}


@pytest.mark.parametrize("editor", EDITORS)
async def test_initialize_advertises_features_and_answers_before_the_model_loads(
        editor: str, trained_checkpoint: Path) -> None:
    async with lsp_session(editor, _settings(trained_checkpoint), wait=False) as client:
        caps = client.init_result.capabilities
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None
        assert {"qinet.continueText", "qinet.detectLanguage"} <= set(caps.execute_command_provider.commands)
        expected = "utf-8" if editor == "neovim" else "utf-16"
        assert caps.position_encoding == expected


@pytest.mark.parametrize("editor", EDITORS)
async def test_inline_completion_is_ghost_text_at_the_cursor(editor: str, trained_checkpoint: Path) -> None:
    """Document: 'The cat sat on the ' — cursor at the end."""
    async with lsp_session(editor, _settings(trained_checkpoint, **GREEDY)) as client:
        text = "The cat sat on the "
        open_doc(client, "file:///a.txt", text)
        items = await inline(client, "file:///a.txt", end_position(text))
        assert len(items) == 1 and items[0].strip()
        assert items == await inline(client, "file:///a.txt", end_position(text))  # T=0: fixed


async def test_temperature_zero_is_fixed_across_servers_and_max_chars_caps(trained_checkpoint: Path) -> None:
    text = "The dog sat on the "
    results = []
    for max_chars in (60, 60, 5):
        settings = _settings(trained_checkpoint, sampling={"temperature": 0},
                             inline={"maxChars": max_chars, "stopAt": "none"})
        async with lsp_session("visual-studio-code", settings) as client:
            open_doc(client, "file:///a.txt", text)
            results.append(await inline(client, "file:///a.txt", end_position(text)))
    assert results[0] == results[1] and results[0]
    assert all(len(t) <= 5 for t in results[2])
    assert results[0][0].startswith(results[2][0]) if results[2] else True


async def test_no_inline_suggestion_inside_a_word(trained_checkpoint: Path) -> None:
    """Document: 'The ca|t sat' — the cursor is inside 'cat'."""
    async with lsp_session("visual-studio-code", _settings(trained_checkpoint)) as client:
        open_doc(client, "file:///a.txt", "The cat sat")
        assert await inline(client, "file:///a.txt", types.Position(line=0, character=6)) == []


async def test_inline_never_repeats_the_text_after_the_cursor(trained_checkpoint: Path) -> None:
    settings = _settings(trained_checkpoint, sampling={"temperature": 0},
                         inline={"stopAt": "line", "maxChars": 30})
    async with lsp_session("visual-studio-code", settings) as client:
        before = "The cat sat on the "
        open_doc(client, "file:///a.txt", before)
        [suggestion] = await inline(client, "file:///a.txt", end_position(before))
        # Now the document already holds that text after the cursor.
        replace_doc(client, "file:///a.txt", before + suggestion, 2)
        again = await inline(client, "file:///a.txt", end_position(before))
        assert suggestion not in again
        assert all(not s.endswith(suggestion[:2]) for s in again)


async def test_inline_candidates_are_distinct(trained_checkpoint: Path) -> None:
    settings = _settings(trained_checkpoint, sampling={"temperature": 2.0, "topP": 1.0, "seed": 3},
                         inline={"candidates": 4, "stopAt": "none", "maxChars": 25})
    async with lsp_session("visual-studio-code", settings) as client:
        open_doc(client, "file:///a.txt", "Where is the ")
        items = await inline(client, "file:///a.txt", end_position("Where is the "))
        assert 1 < len(items) <= 4
        assert len(set(items)) == len(items)


async def test_inline_disabled_returns_nothing(trained_checkpoint: Path) -> None:
    settings = _settings(trained_checkpoint, inline={"enable": False})
    async with lsp_session("visual-studio-code", settings) as c:
        open_doc(c, "file:///a.txt", "The cat ")
        assert await inline(c, "file:///a.txt", end_position("The cat ")) == []


@pytest.mark.parametrize("editor", EDITORS)
async def test_completion_offers_the_most_probable_words_replacing_the_prefix(
        editor: str, trained_checkpoint: Path) -> None:
    """Document: 'The cat sat on the m' — the typed prefix is 'm'."""
    async with lsp_session(editor, _settings(trained_checkpoint)) as client:
        text = "The cat sat on the m"
        open_doc(client, "file:///a.txt", text)
        end = end_position(text)
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///a.txt"), position=end))
        assert isinstance(result, types.CompletionList) and result.is_incomplete
        assert result.items, "no words offered"
        probs = [float(i.detail.rstrip("%")) for i in result.items]
        assert probs == sorted(probs, reverse=True)
        assert [i.sort_text for i in result.items] == sorted(i.sort_text for i in result.items)
        assert result.items[0].label == "mat"  # the model has seen "on the mat" many times
        for item in result.items:
            assert item.label.startswith("m")
            assert item.text_edit.range == types.Range(start=types.Position(0, end.character - 1), end=end)
            assert item.text_edit.new_text == item.label


async def test_completion_after_a_space_offers_next_words(trained_checkpoint: Path) -> None:
    async with lsp_session("visual-studio-code", _settings(trained_checkpoint)) as client:
        open_doc(client, "file:///a.txt", "The cat sat on ")
        end = end_position("The cat sat on ")
        result = await client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///a.txt"), position=end))
        assert result.items[0].label == "the"
        assert result.items[0].text_edit.range == types.Range(start=end, end=end)


async def test_detect_language_reports_a_label_and_confidence(trained_checkpoint: Path) -> None:
    async with lsp_session("visual-studio-code", _settings(trained_checkpoint)) as client:
        text = "Mũndũ ũmwe nĩ mwega. Ngai nĩ mwega mũno."
        open_doc(client, "file:///k.txt", text)
        arg = {"textDocument": {"uri": "file:///k.txt"},
               "position": {"line": 0, "character": end_position(text).character}}
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qinet.detectLanguage", arguments=[arg]))
        assert result["language"] == "kikuyu"
        assert 0.5 < result["confidence"] <= 1.0
        assert set(result["scores"]) == {"english", "kikuyu"}


async def test_typing_reuses_document_state_with_one_step_per_byte(trained_checkpoint: Path) -> None:
    async with lsp_session("visual-studio-code", _settings(trained_checkpoint)) as client:
        text = "The cat sat on the "
        open_doc(client, "file:///a.txt", text)
        await inline(client, "file:///a.txt", end_position(text))
        before = await status(client)
        for version, extra in enumerate(["m", "ma", "mat", "mat "], start=2):
            replace_doc(client, "file:///a.txt", text + extra, version)
            await inline(client, "file:///a.txt", end_position(text + extra))
        after = await status(client)
        assert after["prefills"] == before["prefills"]  # no new prefill while typing
        assert after["steps"] - before["steps"] == 4  # one step per typed byte
