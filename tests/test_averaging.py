"""Checkpoint averaging: the weights' mean, refused across different models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qinet_lsp.averaging import average_checkpoints
from qinet_lsp.checkpoint import load_checkpoint, save_checkpoint
from qinet_lsp.config import ModelConfig

from .conftest import TINY, tiny_model


def _save(path: Path, seed: int, config: ModelConfig = TINY) -> Path:
    save_checkpoint(path, tiny_model(seed, config), ["english", "kikuyu"], {"trained_steps": seed})
    return path


def test_the_average_is_the_mean_of_the_weights(tmp_path: Path) -> None:
    paths = [_save(tmp_path / f"{s}.pt", s) for s in (1, 2, 3)]
    averaged = average_checkpoints(paths)
    states = [tiny_model(s).state_dict() for s in (1, 2, 3)]
    for name, tensor in averaged.model.state_dict().items():
        torch.testing.assert_close(tensor, sum(s[name] for s in states) / 3)
    assert averaged.metadata["trained_steps"] == 3
    assert averaged.metadata["averaged_from"] == ["1.pt", "2.pt", "3.pt"]
    x = torch.tensor([[256, *b"hello"]])
    assert not torch.allclose(averaged.model(x)["lm_logits"], tiny_model(3)(x)["lm_logits"])


def test_one_model_averaged_with_itself_is_unchanged(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.pt", 4)
    averaged = average_checkpoints([path, path])
    x = torch.tensor([[256, *"Ngai nĩ".encode()]])
    torch.testing.assert_close(averaged.model(x)["lm_logits"], tiny_model(4)(x)["lm_logits"])


def test_different_models_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    other = ModelConfig(d_model=8, max_len=32, dilations=(1, 2, 4), n_langs=2)
    paths = [_save(tmp_path / "a.pt", 1), _save(tmp_path / "b.pt", 1, other)]
    with pytest.raises(ValueError, match="not the same model"):
        average_checkpoints(paths)


def test_the_average_command_writes_a_checkpoint_the_server_can_load(tmp_path: Path) -> None:
    paths = [str(_save(tmp_path / f"{s}.pt", s)) for s in (1, 2)]
    out = tmp_path / "mean.pt"
    res = subprocess.run([sys.executable, "-m", "qinet_lsp", "average", *paths, "--out", str(out)],
                         capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    from qinet_lsp.checkpoint import load_runtime

    assert load_runtime(out).model.config == load_checkpoint(paths[0]).model.config
    res = subprocess.run([sys.executable, "-m", "qinet_lsp", "average", str(out),
                          str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.pt")],
                         capture_output=True, timeout=120)
    assert res.returncode == 2 and b"checkpoint not found" in res.stderr
    assert not (tmp_path / "x.pt").exists()
