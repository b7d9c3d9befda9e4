"""A real LSP session against the shipped model, printed as an editor would show it.

    python demo/lsp_demo.py [--checkpoint PATH]

Starts `qinet-lsp` over stdio with pygls' client (VS Code-like capabilities), opens a
document, asks for inline (ghost-text) completions and completion-menu words, runs
Continue Text (applying the server's workspace edit to the document), and detects the
language. Everything shown comes from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from qinet_lsp.context import offset_at, position_at

DOCS = {
    "file:///demo/story.txt": "It was a dark and stormy night, and the old man sat by the fire. "
                              "He said that ",
    "file:///demo/gikuyu.txt": "Ngai nĩ mwega. Mũndũ ũmwe nĩ aathiire ",
}


def _caps() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=True, configuration=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
        window=types.WindowClientCapabilities(work_done_progress=True))


def _end(text: str) -> types.Position:
    line, character = position_at(text, len(text), "utf-16")
    return types.Position(line=line, character=character)


async def main(checkpoint: str) -> int:
    client = LanguageClient("qinet-demo", "1")
    docs = dict(DOCS)
    versions = {uri: 1 for uri in DOCS}

    def change(uri: str, text: str) -> None:
        """Like an editor: the buffer changes, and the server is told."""
        docs[uri], versions[uri] = text, versions[uri] + 1
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=versions[uri]),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))

    change_doc = change

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        for change in params.edit.document_changes or []:
            text = docs[change.text_document.uri]
            for edit in change.edits:
                start = offset_at(text, edit.range.start.line, edit.range.start.character)
                end = offset_at(text, edit.range.end.line, edit.range.end.character)
                text = text[:start] + edit.new_text + text[end:]
            change_doc(change.text_document.uri, text)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[object]:
        return [{"checkpoint": checkpoint, "sampling": {"temperature": 0.6, "seed": 1}}]

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def progress_create(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    @client.feature(types.PROGRESS)
    def progress(params: types.ProgressParams) -> None:
        return None

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def show_message(params: types.ShowMessageParams) -> None:
        print(f"  [server message] {params.message}")

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def log_message(params: types.LogMessageParams) -> None:
        return None

    @client.feature("qinet/status")
    def status(params: object) -> None:
        return None

    await client.start_io(sys.executable, "-m", "qinet_lsp")
    await client.initialize_async(types.InitializeParams(capabilities=_caps(), process_id=None))
    client.initialized(types.InitializedParams())
    for _ in range(600):
        info = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="qinet.status"))
        if info["state"] != "loading":
            break
        await asyncio.sleep(0.05)
    print(f"server: {info['message']}\n")
    if info["state"] != "ready":
        return 1

    for uri, text in DOCS.items():
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="plaintext", version=1, text=text)))
        ident, pos = types.TextDocumentIdentifier(uri=uri), _end(text)
        print(f"=== {uri}  (cursor at the end)\n{textwrap.indent(text, '  | ')}")
        inline = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=ident, position=pos,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
        for item in inline.items if inline else []:
            print(f"  ghost text  : {text[-30:]}\u2502{item.insert_text}")
        prefix_text = text + "th"
        change(uri, prefix_text)
        words = await client.text_document_completion_async(types.CompletionParams(
            text_document=ident, position=_end(prefix_text)))
        menu = ", ".join(f"{i.label} ({i.detail})" for i in words.items)
        print(f"  completion  : after typing 'th' -> {menu}")
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qinet.continueText",
            arguments=[{"textDocument": {"uri": uri}, "position": {"line": _end(prefix_text).line,
                                                                   "character": _end(prefix_text).character},
                        "settings": {"continue": {"maxChars": 160, "stopAt": "sentence"}}}]))
        print(f"  continue    : applied={result['applied']}, {len(result['text'])} characters")
        language = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="qinet.detectLanguage",
            arguments=[{"textDocument": {"uri": uri}, "position": {"line": _end(text).line,
                                                                   "character": _end(text).character}}]))
        print(f"  language    : {language['language']} ({language['confidence']:.0%})")
        print(f"  document after Continue Text:\n{textwrap.indent(docs[uri], '  | ')}\n")

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default="")
    sys.exit(asyncio.run(main(ap.parse_args().checkpoint)))
