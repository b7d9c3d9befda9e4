"""Shared fixtures: tiny seeded models written to tmp_path (no downloads, no shared/ data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from qinet_lsp.checkpoint import save_checkpoint
from qinet_lsp.model import ModelConfig, QINetMNLP

TINY = ModelConfig(d_model=16, max_len=32, dilations=(1, 2, 4), n_langs=2)


def tiny_model(seed: int = 0, config: ModelConfig = TINY) -> QINetMNLP:
    torch.manual_seed(seed)
    return QINetMNLP(config).eval()


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, tiny_model(), ["english", "kikuyu"], {"note": "random weights"})
    return path
