"""Checkpoint round trip and the clear errors for every way a checkpoint can be bad."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch

from qinet_lsp.checkpoint import FORMAT, CheckpointError, load_checkpoint, load_runtime, save_checkpoint
from qinet_lsp.model import CLS_ID

from .conftest import TINY, tiny_model

# Every error must read the same from both loaders: the PyTorch one (training, eval) and the
# torch-free one the server uses.
LOADERS = pytest.mark.parametrize("load", [load_checkpoint, load_runtime], ids=["torch", "runtime"])


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


@LOADERS
def test_missing_file_says_what_to_do(tmp_path: Path, load: object) -> None:
    with pytest.raises(CheckpointError, match="not found.*\n---> HINT"):
        load(tmp_path / "nope.pt")


@LOADERS
def test_truncated_file_is_reported_not_raised_raw(tiny_checkpoint: Path, load: object) -> None:
    data = tiny_checkpoint.read_bytes()
    tiny_checkpoint.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        load(tiny_checkpoint)


@LOADERS
def test_garbage_file_is_reported(tmp_path: Path, load: object) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("these are my notes, not a model")
    with pytest.raises(CheckpointError, match="could not be read"):
        load(path)


class Payload:
    """Any class: unpickling it would run code of the file's choosing."""


@LOADERS
def test_arbitrary_python_objects_are_never_unpickled(tmp_path: Path, load: object) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="arbitrary code"):
        load(path)
    torch.save(collections.Counter(a=1), path)  # even a harmless stdlib class is refused
    with pytest.raises(CheckpointError):
        load(path)


@LOADERS
def test_wrong_shapes_are_reported(tmp_path: Path, load: object) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model(), ["a", "b"])
    blob = torch.load(path, weights_only=True)
    blob["config"]["d_model"] = 32
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="do not fit its model config"):
        load(path)


@LOADERS
def test_unknown_format_and_newer_version_are_reported(tmp_path: Path, load: object) -> None:
    path = tmp_path / "m.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a qinet-lsp or QINetMNLP checkpoint"):
        load(path)
    torch.save({"format": FORMAT, "version": 99, "config": {}, "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="newer than this"):
        load(path)
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        load(path)


def test_the_runtime_loader_computes_what_the_torch_model_computes(tiny_checkpoint: Path) -> None:
    import sys

    loaded = load_runtime(tiny_checkpoint)
    assert loaded.kind == "qinet" and loaded.languages == ["english", "kikuyu"]
    assert loaded.metadata == {"note": "random weights"}
    assert type(loaded.model).__name__ == "NumpyModel"
    tokens = torch.tensor([[CLS_ID, *"Mũndũ 🙂 hello".encode()]])
    with torch.no_grad():
        ref = load_checkpoint(tiny_checkpoint).model(tokens)
    out = loaded.model.forward(tokens.numpy())
    for key in ("lm_logits", "lang_logits_seq", "boundary_logits"):
        torch.testing.assert_close(torch.from_numpy(out[key]), ref[key], atol=1e-4, rtol=0)
    assert "torch" in sys.modules  # (this test imported it; the server check is below)


def test_the_server_side_never_imports_torch(tiny_checkpoint: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; import qinet_lsp.server; from qinet_lsp.checkpoint import load_runtime; "
            "from qinet_lsp.engine import warm_up; "
            f"m = load_runtime({str(tiny_checkpoint)!r}).model; warm_up(m); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_expected_shapes_match_the_torch_model() -> None:
    from qinet_lsp.model import ModelConfig, QINetMNLP
    from qinet_lsp.runtime import expected_shapes

    for cfg in (TINY, ModelConfig(d_model=24, dilations=(1, 3), kernel_size=2, n_langs=5,
                                  se_reduction=4, boundary_head=False)):
        model = QINetMNLP(cfg)
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected_shapes(cfg)


def test_torchzip_reads_what_torch_saves(tmp_path: Path) -> None:
    from qinet_lsp import torchzip

    g = torch.Generator().manual_seed(0)
    blob = {"a": torch.randn(3, 4, generator=g), "t": torch.randn(5, 6, generator=g).t(),
            "half": torch.randn(7, generator=g).half(), "bf": torch.randn(4, generator=g).bfloat16(),
            "i": torch.arange(6).view(2, 3)[:, 1:], "scalar": torch.tensor(2.5),
            "nested": {"list": [1, "x", 2.0], "none": None}}
    torch.save(blob, tmp_path / "b.pt")
    got = torchzip.read(tmp_path / "b.pt")
    for key in ("a", "t", "half", "i", "scalar"):
        assert (got[key] == blob[key].numpy()).all() and got[key].shape == tuple(blob[key].shape)
    assert (got["bf"] == blob["bf"].float().numpy()).all()
    assert got["nested"] == {"list": [1, "x", 2.0], "none": None}
