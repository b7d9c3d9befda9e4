"""Calibration: per-language temperatures fitted on held-out text, used everywhere the model is."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from qinet_lsp.averaging import average_checkpoints
from qinet_lsp.calibration import calibrate, with_temperatures
from qinet_lsp.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from qinet_lsp.evaluation import bits_per_byte
from qinet_lsp.model import CLS_ID
from qinet_lsp.training import TextSource, TrainConfig, train

from .conftest import TINY, tiny_model

# Unseen sentences in the trained_checkpoint fixture's two languages (it memorised its text).
HELD_OUT_EN = "The bird sat on the roof. Where is the dog? The dog is in the garden.\n" * 3
HELD_OUT_KI = "Mũndũ ũcio nĩ aathiire mũgũnda. Ngai nĩ mũnene mũno.\n" * 3


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "qinet_lsp", *args], capture_output=True,
                          timeout=120, env={**os.environ})


def test_a_model_that_memorised_its_text_gets_temperatures_above_one(
        trained_checkpoint: Path) -> None:
    model = load_checkpoint(trained_checkpoint).model
    texts = [("en", HELD_OUT_EN.encode()), ("ki", HELD_OUT_KI.encode())]
    report = calibrate(model, texts)
    assert model.config.temperatures == ()  # calibrate() leaves the model as it was
    assert all(t > 1.0 for t in report["temperatures"])  # over-confident on new text
    for f in report["files"]:
        assert f["calibrated"] <= f["uncalibrated"] + 1e-6  # T = 1 is where the fit starts
    assert report["calibrated"] < report["uncalibrated"] - 0.05
    assert report["cross_fitted"] >= report["calibrated"] - 1e-6  # in-sample is the optimist
    with_temperatures(model, tuple(report["temperatures"]))
    data = HELD_OUT_KI.encode()
    assert bits_per_byte(model, data) == pytest.approx(report["files"][1]["calibrated"], abs=1e-3)


def test_calibrated_logits_are_divided_by_the_language_mixture_on_every_path() -> None:
    model = tiny_model(5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    tokens = torch.tensor([[CLS_ID, *"Ngai nĩ mwega. The cat".encode()]])
    temps = (0.5, 3.0)
    with torch.no_grad():
        raw = model(tokens)
        with_temperatures(model, temps)
        cal = model(tokens)
    mix = torch.softmax(raw["lang_logits_seq"], -1) @ torch.tensor(temps)
    torch.testing.assert_close(cal["lm_logits"], raw["lm_logits"] / mix[..., None])
    torch.testing.assert_close(cal["lang_logits_seq"], raw["lang_logits_seq"])
    # the NumPy prefill and the decode step (compiled or not) give the same calibrated logits
    split = 9
    out, state = model.prefill(tokens[:, :split])
    torch.testing.assert_close(out["lm_logits"], cal["lm_logits"][:, :split], atol=1e-4, rtol=0)
    for t in range(split, tokens.shape[1]):
        step = model.step(tokens[:, t], state)
        torch.testing.assert_close(step["lm_logits"], cal["lm_logits"][:, t], atol=1e-4, rtol=0)
    rt = model.runtime()
    _, st = rt.prefill(tokens[:, :split].numpy())
    for t in range(split, tokens.shape[1]):
        logits = rt.next_logits(tokens[:, t].numpy(), st)
        np.testing.assert_allclose(logits, cal["lm_logits"][:, t].numpy(), atol=1e-4, rtol=0)


def test_temperatures_survive_a_save_and_bad_ones_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "cal.pt"
    save_checkpoint(path, with_temperatures(tiny_model(), (1.25, 2.0)), ["english", "kikuyu"])
    assert load_checkpoint(path).model.config.temperatures == (1.25, 2.0)
    with pytest.raises(ValueError, match="temperatures"):
        with_temperatures(tiny_model(), (1.0,))  # one per language
    blob = torch.load(path, weights_only=True)
    for bad in ([1.0, -2.0], [1.0], "hot", [1.0, float("nan")]):
        blob["config"]["temperatures"] = bad
        torch.save(blob, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match="config is invalid"):
            load_checkpoint(tmp_path / "bad.pt")


def test_fine_tuning_and_averaging_drop_a_calibration(tmp_path: Path) -> None:
    base = tmp_path / "base.pt"
    save_checkpoint(base, with_temperatures(tiny_model(), (1.5, 1.5)), ["english", "kikuyu"])
    tuned = tmp_path / "tuned.pt"
    train([TextSource("mine.txt", None, b"my own notes. " * 30)], str(tuned), TINY,
          TrainConfig(seq_len=32, batch_size=4, steps=4, eval_every=4, warmup=1), init=str(base))
    assert load_checkpoint(tuned).model.config.temperatures == ()
    assert average_checkpoints([base, base]).model.config.temperatures == ()


def test_calibrate_command_writes_the_temperatures_and_eval_uses_them(
        trained_checkpoint: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.pt"
    shutil.copyfile(trained_checkpoint, ckpt)
    held = tmp_path / "held-out.txt"
    held.write_text(HELD_OUT_EN + HELD_OUT_KI, encoding="utf-8")
    res = run("calibrate", str(ckpt), str(held), "--write", "--json")
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(res.stdout)
    assert load_checkpoint(ckpt).model.config.temperatures == tuple(report["temperatures"])
    scored = json.loads(run("eval", str(held), "--checkpoint", str(ckpt), "--json").stdout)
    assert scored["bits_per_byte"] == pytest.approx(report["calibrated"], abs=1e-3)
    assert scored["bits_per_byte"] < report["uncalibrated"]
    missing = run("calibrate", str(ckpt), str(tmp_path / "nope.txt"))
    err = missing.stderr.decode()
    assert missing.returncode == 2 and "nope.txt" in err and "Traceback" not in err
