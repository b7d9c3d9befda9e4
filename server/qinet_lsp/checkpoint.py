"""Checkpoints: a self-describing format, the original release's format, and clear errors.

Our format is a ``torch.save`` of plain data only::

    {"format": "qinet-lsp/checkpoint", "version": 1, "config": {...ModelConfig...},
     "state_dict": {name: tensor}, "languages": [str, ...], "metadata": {...}}

Checkpoints written by the original QINetMNLP code (``model_state_dict`` or ``model_state``,
``label_to_id``/``id_to_label``) load too: their config is inferred from tensor shapes and
they run with the original whole-sequence ("legacy") semantics.

Loading never unpickles arbitrary objects: the server reads our format with an allowlist
unpickler and no PyTorch at all (``load_runtime``, torchzip.py); ``load_checkpoint`` (training,
evaluation, legacy models) uses ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import torchzip
from .config import ModelConfig
from .runtime import NumpyModel, Runtime, expected_shapes

if TYPE_CHECKING:
    import torch

    from .model import QINetMNLP

FORMAT = "qinet-lsp/checkpoint"
VERSION = 1
HINT = "---> HINT: "


class CheckpointError(Exception):
    """A checkpoint could not be used; the message says why and what to do."""


M = TypeVar("M")


@dataclass
class LoadedModel(Generic[M]):
    model: M  # a PyTorch QINetMNLP (load_checkpoint) or a Runtime (load_runtime)
    languages: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    kind: str = "qinet"  # "qinet" or "legacy"

    def language(self, index: int) -> str:
        return self.languages[index] if index < len(self.languages) else f"lang_{index}"


def save_checkpoint(path: str | os.PathLike[str], model: QINetMNLP, languages: list[str],
                    metadata: dict[str, Any] | None = None) -> None:
    """Write atomically (temp file + rename) so an interrupted save never leaves a torn file."""
    import torch

    config = dataclasses.asdict(model.config)
    config["dilations"] = list(config["dilations"])
    config["temperatures"] = list(config["temperatures"])
    blob = {"format": FORMAT, "version": VERSION, "config": config,
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "languages": list(languages), "metadata": dict(metadata or {})}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, target)


def load_runtime(path: str | os.PathLike[str]) -> LoadedModel[Runtime]:
    """Load a checkpoint for inference without PyTorch when it is in our format (a legacy
    checkpoint, or an old non-zip file, goes through load_checkpoint). CheckpointError
    with a hint if it cannot be used."""
    target = Path(path)
    _require_file(target)
    try:
        blob = torchzip.read(target)
    except torchzip.UnsafePickle as exc:
        raise CheckpointError(_UNSAFE.format(path=target)) from exc
    except torchzip.NotTorchZip as exc:
        with open(target, "rb") as f:
            if f.read(1) == b"\x80":  # a pickle: PyTorch's pre-1.6 format; let torch judge it
                return _as_runtime(load_checkpoint(target))
        raise CheckpointError(_CORRUPT.format(path=target, why=exc)) from exc
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        config = _config_of(blob)
        state = blob.get("state_dict")
        _check_shapes(config, state)
        assert isinstance(state, dict)
        loaded = LoadedModel[Runtime](NumpyModel(config, state), _languages(blob),
                                      _metadata(blob), str(path), "qinet")
        return loaded
    return _as_runtime(load_checkpoint(target))  # legacy, or an error with its message


def _as_runtime(loaded: LoadedModel[QINetMNLP]) -> LoadedModel[Runtime]:
    return LoadedModel(loaded.model.runtime(), loaded.languages, loaded.metadata, loaded.path,
                       loaded.kind)


def _check_shapes(config: ModelConfig, state: Any) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(f"the checkpoint has no weights.\n{HINT}re-train it.")
    want = expected_shapes(config)
    problems = [f"missing {k}" for k in want if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in want]
    problems += [f"{k}: {tuple(getattr(state[k], 'shape', ()))} instead of {want[k]}" for k in want
                 if k in state and tuple(getattr(state[k], "shape", ())) != want[k]]
    if problems:
        raise CheckpointError(f"the checkpoint's weights do not fit its model config: "
                              f"{'; '.join(problems)[:400]}\n{HINT}the file may be from another "
                              "model or damaged; re-train or re-export it.")


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu"
                    ) -> LoadedModel[QINetMNLP]:
    """Load a checkpoint into an eval-mode PyTorch model, or raise CheckpointError with a hint."""
    blob = _read(Path(path), map_location)
    if blob.get("format") == FORMAT:
        loaded = _from_ours(blob)
    elif "model_state_dict" in blob or "model_state" in blob:
        loaded = _from_legacy(blob)
    else:
        raise CheckpointError(
            f"{path} is not a qinet-lsp or QINetMNLP checkpoint (its keys: {sorted(blob)[:8]}).\n"
            f"{HINT}make one with `qinet-lsp train`, or point to a file the original code saved.")
    loaded.path = str(path)
    loaded.model.eval()
    return loaded


_UNSAFE = ("{path} contains Python objects other than tensors and plain data, so it was not "
           "loaded (loading it could run arbitrary code).\n" + HINT + "re-save it with only the "
           "weights and labels, or use a checkpoint made by `qinet-lsp train`.")
_CORRUPT = ("{path} could not be read: it is truncated, corrupt or not a PyTorch file ({why}).\n"
            + HINT + "re-download or re-train it; `qinet-lsp train` writes checkpoints atomically.")


def _require_file(path: Path) -> None:
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name too long, or one the system cannot take
        found = False
    if not found:
        raise CheckpointError(f"checkpoint not found: {path}\n{HINT}check the path, or leave the "
                              "setting empty to use the shipped default model.")


def _read(path: Path, map_location: str) -> dict[str, Any]:
    import torch

    _require_file(path)
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; none may escape raw
        if isinstance(exc, pickle.UnpicklingError) and ("Unsupported global" in str(exc) or
                                                        "Weights only load failed" in str(exc)):
            raise CheckpointError(_UNSAFE.format(path=path)) from exc
        raise CheckpointError(_CORRUPT.format(path=path, why=_first(exc))) from exc
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path} holds a {type(blob).__name__}, not a checkpoint dict.\n"
                              f"{HINT}use a checkpoint made by `qinet-lsp train`.")
    return blob


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _config_of(blob: dict[str, Any]) -> ModelConfig:
    version = blob.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"checkpoint format version {version!r} is newer than this "
                              f"qinet-lsp understands ({VERSION}).\n{HINT}upgrade qinet-lsp.")
    try:
        raw = dict(blob["config"])
        raw["dilations"] = tuple(raw["dilations"])
        raw["temperatures"] = tuple(float(t) for t in raw.get("temperatures", ()))
        config = ModelConfig(**raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint's config is invalid: {exc}\n"
                              f"{HINT}re-train it with `qinet-lsp train`.") from exc
    return config


def _metadata(blob: dict[str, Any]) -> dict[str, Any]:
    raw = blob.get("metadata")
    return dict(raw) if isinstance(raw, dict) else {}


def _languages(blob: dict[str, Any]) -> list[str]:
    raw = blob.get("languages", [])
    return [str(x) for x in raw] if isinstance(raw, list) else []


def _from_ours(blob: dict[str, Any]) -> LoadedModel[QINetMNLP]:
    model = _build(_config_of(blob), blob.get("state_dict"))
    return LoadedModel(model, _languages(blob), _metadata(blob), kind="qinet")


def _from_legacy(blob: dict[str, Any]) -> LoadedModel[QINetMNLP]:
    state = blob.get("model_state_dict", blob.get("model_state"))
    if not isinstance(state, dict) or "embed.weight" not in state:
        raise CheckpointError("the original-format checkpoint has no `embed.weight` tensor.\n"
                              f"{HINT}it does not look like a QINetMNLP model.")
    try:
        config = infer_legacy_config(state)
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise CheckpointError(f"the original-format checkpoint's tensors do not form a QINetMNLP "
                              f"model ({type(exc).__name__}: {str(exc)[:200]}).\n{HINT}it may be "
                              "from another model or damaged; re-train or re-export it.") from exc
    model = _build(config, state)
    meta = {k: v for k, v in blob.items() if k in ("epoch", "val_loss")}
    return LoadedModel(model, _legacy_languages(blob, config.n_langs), meta, kind="legacy")


def infer_legacy_config(state: dict[str, torch.Tensor]) -> ModelConfig:
    """Sizes of an original-code model from the shapes of its tensors."""
    block_ids = sorted({int(m.group(1)) for k in state
                        if (m := re.match(r"blocks\.(\d+)\.conv\.dw\.weight$", k))})
    d_model = state["embed.weight"].shape[1]
    hidden = state[f"blocks.{block_ids[0]}.se.fc1.weight"].shape[0] if block_ids else 1
    return ModelConfig(
        d_model=d_model,
        max_len=state["qim.theta_grid"].shape[0] if "qim.theta_grid" in state else 256,
        dilations=tuple(2 ** i for i in range(len(block_ids))),  # the original's 1, 2, 4, 8
        kernel_size=state[f"blocks.{block_ids[0]}.conv.dw.weight"].shape[-1] if block_ids else 3,
        n_langs=state["lang_head.weight"].shape[0] if "lang_head.weight" in state else 4,
        se_reduction=max(1, d_model // hidden),
        boundary_head="boundary_head.weight" in state,
        semantics="legacy",
    )


def _legacy_languages(blob: dict[str, Any], n_langs: int) -> list[str]:
    names = [f"lang_{i}" for i in range(n_langs)]
    mapping = blob.get("id_to_label")
    if isinstance(mapping, dict):
        for idx, label in mapping.items():
            if str(idx).isdigit() and int(idx) < n_langs:
                names[int(idx)] = str(label)
    elif isinstance(blob.get("label_to_id"), dict):
        for label, idx in blob["label_to_id"].items():
            if isinstance(idx, int) and 0 <= idx < n_langs:
                names[idx] = str(label)
    return names


def _build(config: ModelConfig, state: Any) -> QINetMNLP:
    from .model import QINetMNLP

    if not isinstance(state, dict):
        raise CheckpointError(f"the checkpoint has no weights.\n{HINT}re-train it.")
    model = QINetMNLP(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:400]
        raise CheckpointError(f"the checkpoint's weights do not fit its model config: {detail}\n"
                              f"{HINT}the file may be from another model or damaged; re-train "
                              "or re-export it.") from exc
    return model
