"""Checkpoint averaging: the mean of the weights of several saves of one training run.

The last steps of a run wander around a minimum (each validation is noisy on small files);
the mean of the last few saves usually sits closer to it than any one of them. The saves must
be the same model (same shape and languages); the result keeps the last one's window and
metadata, and records what it averaged.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from .checkpoint import LoadedModel, load_checkpoint
from .model import ModelConfig, QINetMNLP


def _shape(config: ModelConfig) -> ModelConfig:
    """The config without how the model is read (decoding window, calibration)."""
    return replace(config, context_bytes=0, refill_bytes=0, temperatures=())


def average_checkpoints(paths: list[str | os.PathLike[str]]) -> LoadedModel[QINetMNLP]:
    if not paths:
        raise ValueError("name at least one checkpoint to average")
    loaded = [load_checkpoint(p) for p in paths]
    last = loaded[-1]
    for other, path in zip(loaded, paths, strict=True):
        if other.model.legacy:
            raise ValueError(f"{path} is an original-format model; only qinet-lsp checkpoints average")
        if _shape(other.model.config) != _shape(last.model.config) or \
                other.languages != last.languages:
            raise ValueError(f"{path} is not the same model as {paths[-1]} (shape or languages "
                             "differ); average saves of one training run")
    states = [m.model.state_dict() for m in loaded]
    mean = {}
    for name, tensor in states[-1].items():
        if tensor.is_floating_point():
            mean[name] = (sum(s[name].double() for s in states) / len(states)).to(tensor.dtype)
        else:
            mean[name] = tensor.clone()
    # keeps the last save's decoding window; a calibration belongs to the weights it was fitted to
    model = QINetMNLP(replace(last.model.config, temperatures=()))
    model.load_state_dict(mean)
    model.eval()
    metadata = {**last.metadata, "averaged_from": [Path(p).name for p in paths]}
    return LoadedModel(model, list(last.languages), metadata, path=str(paths[-1]))
