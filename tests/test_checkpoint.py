"""Checkpoint round trip and the clear errors for every way a checkpoint can be bad."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch

from qinet_lsp.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from qinet_lsp.model import CLS_ID

from .conftest import TINY, tiny_model


def test_round_trip_restores_config_weights_labels_and_metadata(tmp_path: Path) -> None:
    model = tiny_model(4)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, ["english", "kikuyu"], {"data": ["a.txt"], "bits_per_byte": 2.1})
    loaded = load_checkpoint(path)
    assert loaded.kind == "qinet"
    assert loaded.model.config == TINY
    assert loaded.languages == ["english", "kikuyu"]
    assert loaded.metadata == {"data": ["a.txt"], "bits_per_byte": 2.1}
    assert not loaded.model.training
    tokens = torch.tensor([[CLS_ID, *b"hello"]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(tokens)["lm_logits"], model(tokens)["lm_logits"])
    assert not (tmp_path / "m.pt.tmp").exists()


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found.*\n---> HINT"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file_is_reported_not_raised_raw(tiny_checkpoint: Path) -> None:
    data = tiny_checkpoint.read_bytes()
    tiny_checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        load_checkpoint(tiny_checkpoint)


def test_garbage_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("these are my notes, not a model")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(path)


class Payload:
    """Any class: unpickling it would run code of the file's choosing."""


def test_arbitrary_python_objects_are_never_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="arbitrary code"):
        load_checkpoint(path)
    torch.save(collections.Counter(a=1), path)  # even a harmless stdlib class is refused
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_wrong_shapes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model(), ["a", "b"])
    blob = torch.load(path, weights_only=True)
    blob["config"]["d_model"] = 32
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="do not fit its model config"):
        load_checkpoint(path)


def test_unknown_format_and_newer_version_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a qinet-lsp or QINetMNLP checkpoint"):
        load_checkpoint(path)
    torch.save({"format": FORMAT, "version": 99, "config": {}, "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="newer than this"):
        load_checkpoint(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        load_checkpoint(path)
