"""Rewrite `contributes.configuration` in package.json from the server's settings schema.

    .venv/bin/python editor-clients/vscode/scripts/gen_schema.py          # rewrite package.json
    .venv/bin/python editor-clients/vscode/scripts/gen_schema.py --check  # exit 1 if out of date

Every server setting comes from `qinet_lsp.settings.json_schema()` with the same key, type,
default, description, minimum/maximum and enum; the extension-only settings (how to start the
server, which languages it serves) are defined here. Everything else in package.json is kept as it
is. tests/test_vscode_schema.py checks the committed result against the schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE_JSON = HERE.parent / "package.json"
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "server"))  # works without an editable install too

from qinet_lsp.settings import json_schema  # noqa: E402

EXTENSION_SETTINGS: dict[str, dict[str, Any]] = {
    "qinet.server.path": {
        "type": "string",
        "default": "",
        "scope": "machine",
        "markdownDescription": "Path of the `qinet-lsp` executable (empty: `qinet-lsp` on `PATH`, "
        "else `#qinet.server.python# -m qinet_lsp`). Takes effect after **QINet: Restart Server**.",
    },
    "qinet.server.python": {
        "type": "string",
        "default": "python3",
        "scope": "machine",
        "markdownDescription": "Python interpreter used to run `python -m qinet_lsp` when "
        "`#qinet.server.path#` is empty and `qinet-lsp` is not on `PATH`. Takes effect after "
        "**QINet: Restart Server**.",
    },
    "qinet.languages": {
        "type": "array",
        "items": {"type": "string"},
        "uniqueItems": True,
        "default": ["plaintext", "markdown"],
        "markdownDescription": "Language ids of the documents QINet serves (files and untitled "
        "buffers), e.g. `plaintext`, `markdown`, `latex`. The extension activates on plaintext and "
        "markdown; other languages are served once it is active. Takes effect after "
        "**QINet: Restart Server**.",
    },
}


def configuration() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for order, (key, entry) in enumerate(json_schema().items()):
        properties[key] = {**entry, "order": order}
    offset = len(properties)
    for order, (key, entry) in enumerate(EXTENSION_SETTINGS.items(), start=offset):
        properties[key] = {**entry, "order": order}
    return {"title": "QINet", "properties": properties}


def render(package: dict[str, Any]) -> str:
    package.setdefault("contributes", {})["configuration"] = configuration()
    return json.dumps(package, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if package.json is out of date")
    args = parser.parse_args()
    old = PACKAGE_JSON.read_text(encoding="utf-8")
    new = render(json.loads(old))
    if args.check:
        if old != new:
            sys.stderr.write(f"{PACKAGE_JSON} is out of date: run {Path(__file__).name}\n")
            return 1
        return 0
    if old != new:
        PACKAGE_JSON.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
