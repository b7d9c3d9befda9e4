"""Checkpoint safety through the real server: a file whose pickle would run code is refused
without running anything; truncated, empty, mis-shaped and foreign files each give one clear
message; until a good checkpoint is configured the server keeps answering, with empty
results."""

from __future__ import annotations

import asyncio
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from qinet_lsp.checkpoint import save_checkpoint

from .conftest import tiny_model
from .raw_session import RawSession, end_of, raw_session

TEXT = "The cat "


class WritesAFile:
    """Unpickling this would write `marker` (with exec, or the shell)."""

    def __init__(self, marker: Path, shell: bool = False) -> None:
        self.marker, self.shell = marker, shell

    def __reduce__(self) -> tuple[Any, ...]:
        if self.shell:
            return (os.system, (f"touch {self.marker}",))
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _evil_files(tmp: Path, marker: Path) -> list[Path]:
    files = []
    for name, payload in [("zip-exec.pt", WritesAFile(marker)),
                          ("zip-shell.pt", WritesAFile(marker, shell=True))]:
        torch.save({"format": "qinet-lsp/checkpoint", "version": 1, "x": payload}, tmp / name)
        files.append(tmp / name)
    for protocol in (2, 4):  # a bare pickle (PyTorch's old format), two pickle protocols
        path = tmp / f"pickle{protocol}.pt"
        path.write_bytes(pickle.dumps({"model_state_dict": WritesAFile(marker)}, protocol=protocol))
        files.append(path)
    return files


def _bad_files(tmp: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {"truncated": data[: len(data) // 3], "empty": b"", "text": b"my notes, not a model",
             "json": b'{"format": "qinet-lsp/checkpoint"}'}
    out = {}
    for name, raw in files.items():
        (tmp / f"{name}.pt").write_bytes(raw)
        out[name] = tmp / f"{name}.pt"
    blob = torch.load(good, weights_only=True)
    blob["state_dict"]["embed.weight"] = torch.zeros(3, 3)
    torch.save(blob, tmp / "wrong-shape.pt")
    torch.save({"model_state_dict": {"embed.weight": torch.zeros(7)}}, tmp / "legacy-shape.pt")
    torch.save([1, 2, 3], tmp / "a-list.pt")
    with zipfile.ZipFile(tmp / "other.zip", "w") as z:
        z.writestr("readme.txt", "a zip, but not a model")
    for name in ("wrong-shape.pt", "legacy-shape.pt", "a-list.pt", "other.zip"):
        out[name] = tmp / name
    out["a directory"] = tmp
    out["a name too long"] = tmp / ("x" * 5000)
    return out


async def _configure(s: RawSession, path: Path | str) -> dict[str, Any]:
    """Point the server at `path`; the qinet/status notification that ends its load."""
    n = len(s.notifications)
    s.notify("workspace/didChangeConfiguration", {"settings": {"qinet": {"checkpoint": str(path)}}})
    for _ in range(1200):
        for note in s.notifications[n:]:
            params = note["params"]
            if note["method"] == "qinet/status" and params["checkpoint"] == str(path) and \
                    params["state"] != "loading":
                return dict(params)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the load of {path} never ended")


def _errors_shown(s: RawSession, since: int) -> list[str]:
    return [n["params"]["message"] for n in s.notifications[since:]
            if n["method"] == "window/showMessage" and n["params"]["type"] == 1]


async def test_checkpoints_that_would_run_code_are_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    good = tmp_path / "good.pt"
    save_checkpoint(good, tiny_model(), ["english", "kikuyu"])
    async with raw_session({"checkpoint": str(tmp_path / "none-yet.pt")}, ready=False) as s:
        await s.wait_state("error")  # (no model at all to begin with)
        s.open("file:///a.txt", TEXT)
        for path in _evil_files(tmp_path, marker):
            since = len(s.notifications)
            status = await _configure(s, path)
            assert status["state"] == "error"
            [shown] = _errors_shown(s, since)
            assert "arbitrary code" in shown and "---> HINT" in shown, shown
            assert not marker.exists(), f"loading {path.name} ran code"
            assert await s.inline("file:///a.txt", end_of(TEXT)) == []  # no model: empty, no error
        assert (await _configure(s, good))["state"] == "ready"
        assert await s.inline("file:///a.txt", end_of(TEXT))
        assert not marker.exists()
        assert await s.shutdown() == 0


async def test_bad_checkpoint_files_each_give_one_clear_message(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(good, tiny_model(), ["english", "kikuyu"])
    async with raw_session({"checkpoint": str(tmp_path / "none-yet.pt")}, ready=False) as s:
        await s.wait_state("error")  # (no model at all to begin with)
        s.open("file:///a.txt", TEXT)
        report = []
        for name, path in _bad_files(tmp_path, good).items():
            since = len(s.notifications)
            status = await _configure(s, path)
            assert status["state"] == "error", (name, status)
            shown = _errors_shown(s, since)
            assert len(shown) == 1, (name, shown)
            assert "---> HINT: " in shown[0] and "Traceback" not in shown[0], (name, shown)
            assert await s.inline("file:///a.txt", end_of(TEXT)) == []
            report.append(f"{name}: {shown[0].splitlines()[0][:90]}")
        assert (await _configure(s, good))["state"] == "ready"
        assert await s.inline("file:///a.txt", end_of(TEXT))
        print("\n" + "\n".join(report))
        assert await s.shutdown() == 0
