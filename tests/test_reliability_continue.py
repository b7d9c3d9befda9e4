"""Never lose text: Continue Text racing the user's typing, against the real server and an
emulated editor that applies versioned edits the way VS Code does (refusing one whose
version is not the document's). Text is only ever inserted where and when it was asked
for; text that is not inserted comes back in the result and in a message."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

from qinet_lsp.context import offset_at

from .raw_session import RawSession, end_of, raw_session

URI = "file:///race.txt"


class Editor:
    """The editor's copy of one document; the user types into it at random moments."""

    def __init__(self, s: RawSession, text: str, rng: random.Random) -> None:
        self.s, self.text, self.version, self.rng = s, text, 1, rng
        self.edits: list[dict[str, Any]] = []  # every applyEdit the server sent
        self.typed = 0
        self.type_first = False  # the next applyEdit arrives just after a keystroke
        self.applied: list[tuple[str, str]] = []  # (text before, text after) each applied edit

    def type(self) -> None:
        """The user types one character somewhere (a full-text change, as some editors send)."""
        at = self.rng.randrange(len(self.text) + 1)
        self.text = self.text[:at] + self.rng.choice("XYZ") + self.text[at:]
        self.version += 1
        self.typed += 1
        self.s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": self.version},
                                                 "contentChanges": [{"text": self.text}]})

    def apply_edit(self, params: Any) -> bool:
        self.edits.append(params)
        if self.type_first:
            self.type()
        [change] = params["edit"]["documentChanges"]
        if change["textDocument"]["version"] != self.version:
            return False  # stale: a real editor refuses it
        [edit] = change["edits"]
        at = _offset(self.text, edit["range"]["start"])
        old, self.text = self.text, self.text[:at] + edit["newText"] + self.text[at:]
        self.applied.append((old, self.text))
        self.version += 1
        self.s.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": self.version},
                                                 "contentChanges": [{"text": self.text}]})
        return True


def _offset(text: str, pos: dict[str, int]) -> int:
    return offset_at(text, pos["line"], pos["character"], "utf-8")


async def test_continue_text_racing_the_user_never_inserts_stale_text(tiny_checkpoint: Path) -> None:
    rng = random.Random(11)
    settings = {"checkpoint": str(tiny_checkpoint), "continue": {"stopAt": "none"}}
    async with raw_session(settings) as s:
        editor = Editor(s, "The cat sat on the mat. Mũndũ ũmwe. ", rng)
        s.on_apply_edit = editor.apply_edit
        s.open(URI, editor.text)
        outcomes: dict[str, int] = {}
        for _ in range(40):
            at = rng.choice([len(editor.text), rng.randrange(len(editor.text))])
            asked = {"version": editor.version, "position": end_of(editor.text[:at])}
            before, after = editor.text[:at], editor.text[at:]
            editor.type_first = rng.random() < 0.25
            n_edits = len(editor.edits)
            task = asyncio.ensure_future(s.command("qinet.continueText", {
                "textDocument": {"uri": URI}, "position": asked["position"],
                "settings": {"continue": {"maxChars": rng.choice([20, 200, 2000])}}}))
            if rng.random() < 0.4:
                await asyncio.sleep(rng.uniform(0, 0.05))
                editor.type()
            result = (await task)["result"]
            reason = result["reason"] if not result["applied"] else "applied"
            outcomes[reason] = outcomes.get(reason, 0) + 1
            for params in editor.edits[n_edits:]:  # what was sent is what was asked for
                [change] = params["edit"]["documentChanges"]
                assert change["textDocument"]["version"] == asked["version"]
                assert change["edits"][0]["range"]["start"] == asked["position"]
                assert change["edits"][0]["newText"] == result["text"]
            if result["applied"]:  # into the very text it was asked for, at the cursor
                assert editor.applied[-1] == (before + after, before + result["text"] + after)
            else:
                assert result["text"], result  # nothing lost: the text comes back...
                shown = s.messages()[-1]
                assert result["text"][:50] in shown, shown  # ...and the user sees it
        print(f"\ncontinue race: 40 Continue Text commands, {editor.typed} keystrokes; {outcomes}")
        assert outcomes.get("applied") and outcomes.get("document_changed"), outcomes
        assert outcomes.get("edit_rejected") == len(editor.edits) - outcomes["applied"], outcomes
        assert await s.shutdown() == 0


async def test_closing_the_document_while_writing_returns_the_text(tiny_checkpoint: Path) -> None:
    settings = {"checkpoint": str(tiny_checkpoint), "continue": {"maxChars": 20000, "stopAt": "none"}}
    async with raw_session(settings) as s:
        s.open(URI, "The cat ")
        task = asyncio.ensure_future(s.command("qinet.continueText", {
            "textDocument": {"uri": URI}, "position": end_of("The cat ")}))
        await asyncio.sleep(0.1)
        s.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
        response = await task
        assert "result" in response, response  # not an error that would drop the text
        result = response["result"]
        assert result["applied"] is False and result["reason"] == "document_closed"
        assert result["text"] and result["text"][:50] in s.messages()[-1]
        assert await s.shutdown() == 0


async def test_a_cancelled_continue_text_stops_and_inserts_nothing(tiny_checkpoint: Path) -> None:
    settings = {"checkpoint": str(tiny_checkpoint), "continue": {"maxChars": 20000, "stopAt": "none"}}
    edits: list[Any] = []
    async with raw_session(settings, on_apply_edit=lambda p: edits.append(p) or True) as s:
        s.open(URI, "The cat ")
        rid = s.next_id()
        request = s.request("workspace/executeCommand", {"command": "qinet.continueText", "arguments": [
            {"textDocument": {"uri": URI}, "position": end_of("The cat ")}]}, rid)
        await asyncio.sleep(0.2)
        s.notify("$/cancelRequest", {"id": rid})
        assert (await asyncio.wait_for(request, 30))["error"]["code"] == -32800
        for _ in range(600):  # the command's own work stops too: its progress ends
            if any(n["method"] == "$/progress" and n["params"]["value"]["kind"] == "end"
                   for n in s.notifications):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the cancelled Continue Text never ended its progress")
        await s.command("qinet.status")  # (anything it sent after that has arrived by now)
        assert edits == [], "a cancelled Continue Text inserted text"
        assert await s.shutdown() == 0


async def test_an_editor_that_never_answers_the_edit_gets_the_text_back(tiny_checkpoint: Path) -> None:
    """workspace/applyEdit unanswered: after EDIT_TIMEOUT_S the command returns the text (and
    shows it) instead of hanging, and the server goes on serving."""
    from qinet_lsp.server import EDIT_TIMEOUT_S

    settings = {"checkpoint": str(tiny_checkpoint), "continue": {"maxChars": 40, "stopAt": "none"}}
    asked: list[Any] = []
    async with raw_session(settings, on_apply_edit=lambda p: asked.append(p) and None) as s:
        s.open(URI, "The cat ")
        response = await s.command("qinet.continueText", {
            "textDocument": {"uri": URI}, "position": end_of("The cat ")},
            timeout_s=EDIT_TIMEOUT_S + 30)
        result = response["result"]
        assert len(asked) == 1 and result["applied"] is False, response
        assert result["reason"] == "edit_unanswered" and result["text"]
        assert result["text"][:40] in s.messages()[-1]
        assert (await s.command("qinet.status"))["result"]["state"] == "ready"
        assert await s.shutdown() == 0
