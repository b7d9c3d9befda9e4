"""Calibration: one temperature per language, fitted to held-out text.

A small model trained on 30 KB of a language sees that text a hundred times over and becomes
over-confident on it: on new text in that language its next-byte distribution is too sharp.
Dividing the logits by a temperature T > 1 fixes that (temperature scaling). Each language gets
its own T, and a position's temperature is the mixture of them under the causal language head
(ModelConfig.temperatures), so the model needs no language label when it runs.

The temperatures are fitted by minimising bits per byte on held-out text scored exactly as
`eval` scores it. Because that text is then no longer unseen, ``calibrate`` also reports a
2-fold cross-fitted score (fit on the first half of every file, score the second, and the
reverse), which is the honest estimate of what calibration gains on new text.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from .evaluation import scored_windows
from .model import QINetMNLP

log = logging.getLogger(__name__)

_LOG_T_RANGE = (math.log(0.05), math.log(20.0))  # ModelConfig's accepted range


@dataclass
class Scored:
    """Every position of a text, as the uncalibrated model predicts it."""

    logits: Tensor  # (N, 257)
    lang_probs: Tensor  # (N, n_langs)
    targets: Tensor  # (N,)

    def split(self) -> tuple[Scored, Scored]:
        k = len(self.targets) // 2
        return (Scored(self.logits[:k], self.lang_probs[:k], self.targets[:k]),
                Scored(self.logits[k:], self.lang_probs[k:], self.targets[k:]))


def uncalibrated(model: QINetMNLP) -> QINetMNLP:
    """`model` with its temperatures removed (in place)."""
    model.config = replace(model.config, temperatures=())
    return model


def with_temperatures(model: QINetMNLP, temperatures: tuple[float, ...]) -> QINetMNLP:
    """`model` calibrated with one temperature per language id (in place)."""
    model.config = replace(model.config, temperatures=tuple(float(t) for t in temperatures))
    return model


def collect(model: QINetMNLP, data: bytes) -> Scored:
    """Score `data` with the decoder's windows; `model` must be uncalibrated."""
    if model.config.temperatures:
        raise ValueError("collect() needs the uncalibrated model (see uncalibrated())")
    logits, probs = [], []
    with torch.no_grad():
        for _first, _last, window in scored_windows(model, data):
            logits.append(window["lm_logits"].float())
            probs.append(torch.softmax(window["lang_logits_seq"].float(), dim=-1))
    return Scored(torch.cat(logits), torch.cat(probs), torch.tensor(list(data), dtype=torch.long))


def total_bits(parts: list[Scored], log_t: Tensor) -> Tensor:
    """Bits of every target of `parts` with logits divided by exp(log_t) mixed per position."""
    total = torch.zeros(())
    for p in parts:
        temp = p.lang_probs @ log_t.exp()  # (N,)
        logp = torch.log_softmax(p.logits / temp[:, None], dim=-1)
        total = total - logp.gather(1, p.targets[:, None]).sum() / math.log(2)
    return total


def fit(parts: list[Scored], n_langs: int) -> tuple[float, ...]:
    """Temperatures (one per language) that minimise the bits of `parts`."""
    n = sum(len(p.targets) for p in parts)
    log_t = torch.zeros(n_langs, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=100, tolerance_grad=1e-7,
                            line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = total_bits(parts, log_t) / n
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]
    clamped = log_t.detach().clamp(*_LOG_T_RANGE)
    return tuple(round(float(t), 4) for t in clamped.exp())


def calibrate(model: QINetMNLP, texts: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Fit temperatures on `texts` (name, held-out bytes) and report, per text and overall,
    bits per byte uncalibrated, calibrated (fitted on everything: in-sample) and cross-fitted.
    The model is left uncalibrated; apply the result with with_temperatures()."""
    if model.legacy:
        raise ValueError("a legacy (whole-sequence) model cannot be calibrated")
    texts = [(name, data) for name, data in texts if len(data) >= 2]
    if not texts:
        raise ValueError("calibration needs held-out text (at least 2 bytes)")
    uncalibrated(model)
    n_langs = model.config.n_langs
    scored = [collect(model, data) for _name, data in texts]
    halves = [s.split() for s in scored]
    temps = fit(scored, n_langs)
    fold = [fit([h[0] for h in halves], n_langs), fit([h[1] for h in halves], n_langs)]
    log.info("temperatures %s (folds %s, %s)", temps, fold[0], fold[1])

    def bits(parts: list[Scored], t: tuple[float, ...]) -> float:
        return float(total_bits(parts, torch.tensor(t).log()))

    ones = (1.0,) * n_langs
    files: list[dict[str, Any]] = []
    for (name, data), s, (a, b) in zip(texts, scored, halves, strict=True):
        files.append({"path": name, "bytes": len(data),
                      "uncalibrated": bits([s], ones) / len(data),
                      "calibrated": bits([s], temps) / len(data),
                      # each half scored with the temperatures fitted on the other halves
                      "cross_fitted": (bits([b], fold[0]) + bits([a], fold[1])) / len(data)})
    n = sum(f["bytes"] for f in files)
    overall = {k: sum(f[k] * f["bytes"] for f in files) / n
               for k in ("uncalibrated", "calibrated", "cross_fitted")}
    return {"temperatures": list(temps), "fold_temperatures": [list(f) for f in fold],
            "bytes": n, **overall, "files": files}
