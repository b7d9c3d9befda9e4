"""The layering the design asks for: a pure core, and a protocol layer without tensor math."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "server" / "qinet_lsp"
CORE = ["model.py", "stepper.py", "checkpoint.py", "sampling.py", "utf8.py", "stopping.py",
        "decoding.py", "generation.py", "wordbeam.py", "evaluation.py", "training.py", "context.py",
        "settings.py", "engine.py"]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("name", CORE)
def test_core_never_imports_the_protocol(name: str) -> None:
    assert not _imports(PKG / name) & {"pygls", "lsprotocol"}


def test_server_does_no_tensor_math() -> None:
    assert not _imports(PKG / "server.py") & {"torch", "numpy"}


def test_no_print_in_the_package() -> None:
    for path in PKG.glob("*.py"):
        calls = [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, f"print() in {path.name}"
