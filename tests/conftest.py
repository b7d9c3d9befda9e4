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


TRAIN_TEXT_EN = ("The cat sat on the mat. The dog sat on the log. The cat and the dog are friends. "
                 "Where is the cat? The cat is on the mat.\n")
TRAIN_TEXT_KI = "Mũndũ ũmwe nĩ mwega. Ngai nĩ mwega mũno. Mũndũ nĩ aathiire mũciĩ.\n"


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained for a few seconds on two small texts made here, so that its
    suggestions are real (if simple) words. Deterministic (seeded)."""
    from qinet_lsp.training import TextSource, TrainConfig, train

    path = tmp_path_factory.mktemp("trained") / "tiny-trained.pt"
    sources = [TextSource("en.txt", "english", (TRAIN_TEXT_EN * 30).encode()),
               TextSource("ki.txt", "kikuyu", (TRAIN_TEXT_KI * 30).encode())]
    cfg = TrainConfig(seq_len=64, batch_size=16, steps=300, lr=1e-2, warmup=20, eval_every=300,
                      seed=0, size_power=1.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is faster and fair to the other core
    try:
        train(sources, str(path), ModelConfig(d_model=32, max_len=64, dilations=(1, 2, 4, 8)), cfg)
    finally:
        torch.set_num_threads(threads)
    return path
