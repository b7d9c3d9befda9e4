"""The `qinet-lsp` command as a user runs it: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "qinet-default.pt"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "qinet_lsp", *args], capture_output=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_generate_prints_only_the_continuation_and_same_seed_repeats(tiny_checkpoint: Path) -> None:
    args = ("generate", "Ngai nĩ", "--checkpoint", str(tiny_checkpoint), "--seed", "1",
            "--max-new-bytes", "60", "--temperature", "1.2")
    first, second = run(*args), run(*args)
    assert first.returncode == 0, first.stderr.decode()
    out = first.stdout.decode("utf-8")  # strict: fails on invalid UTF-8
    assert out.endswith("\n") and not out.startswith("Ngai")
    assert first.stdout == second.stdout
    assert run(*args[:-4], "--seed", "2", "--max-new-bytes", "60").stdout != first.stdout


def test_generate_accepts_a_ten_thousand_byte_prompt(tiny_checkpoint: Path) -> None:
    prompt = "Mũndũ ũmwe nĩ mwega 🙂 " * 420
    assert len(prompt.encode()) > 10_000
    res = run("generate", prompt, "--checkpoint", str(tiny_checkpoint), "--seed", "3",
              "--max-new-bytes", "40")
    assert res.returncode == 0, res.stderr.decode()
    res.stdout.decode("utf-8")


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "checkpoint not found"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "truncated, corrupt"),
])
def test_bad_checkpoint_is_one_clear_message_not_a_traceback(tmp_path: Path, make, message) -> None:
    path = tmp_path / "model.pt"
    make(path)
    res = run("generate", "hi", "--checkpoint", str(path))
    err = res.stderr.decode()
    assert res.returncode == 2
    assert message in err and "HINT" in err
    assert "Traceback" not in err and res.stdout == b""


def test_invalid_sampling_argument_is_reported(tiny_checkpoint: Path) -> None:
    res = run("generate", "hi", "--checkpoint", str(tiny_checkpoint), "--top-p", "1.5")
    assert res.returncode == 2 and "top_p" in res.stderr.decode()
    assert "Traceback" not in res.stderr.decode()


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped checkpoint in this tree")
def test_shipped_default_model_continues_a_gikuyu_prompt() -> None:
    res = run("generate", "Ngai nĩ", "--seed", "1", "--max-new-bytes", "80")
    assert res.returncode == 0, res.stderr.decode()
    text = res.stdout.decode("utf-8")
    assert len(text.strip()) > 0
    assert run("generate", "Ngai nĩ", "--seed", "1", "--max-new-bytes", "80").stdout == res.stdout


def test_info_describes_a_checkpoint(tiny_checkpoint: Path) -> None:
    res = run("info", str(tiny_checkpoint))
    assert res.returncode == 0
    assert b'"languages": [' in res.stdout and b'"kind": "qinet"' in res.stdout


def test_eval_reports_bits_per_byte_as_json(tiny_checkpoint: Path, tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("Ngai nĩ mwega. " * 30, encoding="utf-8")
    res = run("eval", f"kikuyu={text}", "--checkpoint", str(tiny_checkpoint), "--json",
              "--keystrokes", "40")
    assert res.returncode == 0, res.stderr.decode()
    import json

    report = json.loads(res.stdout)
    assert report["files"][0]["bytes"] == len(text.read_bytes())
    assert 3.0 < report["bits_per_byte"] < 14.0
    assert set(report["files"][0]["language_accuracy"]) == {"16", "64", "256"}
    assert report["files"][0]["keystrokes"]["characters"] == 40


def test_tune_window_writes_the_best_window_and_eval_then_uses_it(tiny_checkpoint: Path,
                                                                  tmp_path: Path) -> None:
    import json

    text = tmp_path / "held-out.txt"
    text.write_text("Ngai nĩ mwega. The cat sat on the mat. " * 12, encoding="utf-8")
    res = run("tune-window", str(tiny_checkpoint), str(text), "--write", "--json")
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(res.stdout)
    best = report["chosen"]
    assert best["bits_per_byte"] <= report["results"][0]["bits_per_byte"] + 0.002
    info = json.loads(run("info", str(tiny_checkpoint)).stdout)
    assert (info["config"]["context_bytes"], info["config"]["refill_bytes"]) == (
        best["context_bytes"], best["refill_bytes"])
    scored = json.loads(run("eval", str(text), "--checkpoint", str(tiny_checkpoint), "--json").stdout)
    assert abs(scored["bits_per_byte"] - best["bits_per_byte"]) < 1e-3
