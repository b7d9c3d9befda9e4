"""Checkpoints: a self-describing format, the original release's format, and clear errors.

Our format is a ``torch.save`` of plain data only::

    {"format": "qinet-lsp/checkpoint", "version": 1, "config": {...ModelConfig...},
     "state_dict": {name: tensor}, "languages": [str, ...], "metadata": {...}}

Checkpoints written by the original QINetMNLP code (``model_state_dict`` or ``model_state``,
``label_to_id``/``id_to_label``) load too: their config is inferred from tensor shapes and
they run with the original whole-sequence ("legacy") semantics.

Loading never unpickles arbitrary objects (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .model import ModelConfig, QINetMNLP

FORMAT = "qinet-lsp/checkpoint"
VERSION = 1
HINT = "---> HINT: "


class CheckpointError(Exception):
    """A checkpoint could not be used; the message says why and what to do."""


@dataclass
class LoadedModel:
    model: QINetMNLP
    languages: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    kind: str = "qinet"  # "qinet" or "legacy"

    def language(self, index: int) -> str:
        return self.languages[index] if index < len(self.languages) else f"lang_{index}"


def save_checkpoint(path: str | os.PathLike[str], model: QINetMNLP, languages: list[str],
                    metadata: dict[str, Any] | None = None) -> None:
    """Write atomically (temp file + rename) so an interrupted save never leaves a torn file."""
    config = dataclasses.asdict(model.config)
    config["dilations"] = list(config["dilations"])
    blob = {"format": FORMAT, "version": VERSION, "config": config,
            "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "languages": list(languages), "metadata": dict(metadata or {})}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, target)


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> LoadedModel:
    """Load a checkpoint into an eval-mode model, or raise CheckpointError with a hint."""
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


def _read(path: Path, map_location: str) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}\n{HINT}check the path, or leave the "
                              "setting empty to use the shipped default model.")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; none may escape raw
        if isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{path} contains Python objects other than tensors and plain data, so it was "
                f"not loaded (loading it could run arbitrary code).\n{HINT}re-save it with only "
                f"the weights and labels, or use a checkpoint made by `qinet-lsp train`."
            ) from exc
        raise CheckpointError(f"{path} could not be read: it is truncated, corrupt or not a "
                              f"PyTorch file ({_first(exc)}).\n{HINT}re-download or re-train "
                              "it; `qinet-lsp train` writes checkpoints atomically.") from exc
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path} holds a {type(blob).__name__}, not a checkpoint dict.\n"
                              f"{HINT}use a checkpoint made by `qinet-lsp train`.")
    return blob


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _from_ours(blob: dict[str, Any]) -> LoadedModel:
    version = blob.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"checkpoint format version {version!r} is newer than this "
                              f"qinet-lsp understands ({VERSION}).\n{HINT}upgrade qinet-lsp.")
    try:
        raw = dict(blob["config"])
        raw["dilations"] = tuple(raw["dilations"])
        config = ModelConfig(**raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint's config is invalid: {exc}\n"
                              f"{HINT}re-train it with `qinet-lsp train`.") from exc
    model = _build(config, blob.get("state_dict"))
    languages = [str(x) for x in blob.get("languages", [])]
    return LoadedModel(model, languages, dict(blob.get("metadata") or {}), kind="qinet")


def _from_legacy(blob: dict[str, Any]) -> LoadedModel:
    state = blob.get("model_state_dict", blob.get("model_state"))
    if not isinstance(state, dict) or "embed.weight" not in state:
        raise CheckpointError("the original-format checkpoint has no `embed.weight` tensor.\n"
                              f"{HINT}it does not look like a QINetMNLP model.")
    config = infer_legacy_config(state)
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
