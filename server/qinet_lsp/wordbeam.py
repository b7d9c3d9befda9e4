"""The most probable completions of the current word: a small beam search over bytes.

Not random samples: each candidate's probability is P(its bytes, then a word boundary |
context), where the boundary mass sums every ASCII byte that ends a word (space,
punctuation, newline...). The search stops once no live beam can beat the n-th finished
word, or at `max_bytes`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .config import CLS_ID
from .decoding import max_context_bytes
from .runtime import Runtime, as_runtime
from .sampling import allowed_mask
from .stepper import Array
from .stopping import is_word_char
from .utf8 import char_safe_tail, sequence_length

_ASCII_BOUNDARY = np.array([not is_word_char(chr(b)) for b in range(128)] + [False] * 129)
_ASCII_BOUNDARY[0] = False  # NUL never counts


@dataclass(frozen=True)
class WordCandidate:
    text: str  # the completion of the word (without the typed prefix)
    probability: float


@dataclass
class _Beam:
    data: bytes
    logp: float

    def pending(self) -> bytes:
        """Trailing bytes of an unfinished character."""
        for n in range(1, min(4, len(self.data)) + 1):
            lead = self.data[-n]
            if not 0x80 <= lead <= 0xBF:  # the lead byte (beams hold valid UTF-8 only)
                return self.data[-n:] if n < sequence_length(lead) else b""
        return b""


class _CausalRows:
    """Batched incremental decoding: one row per beam."""

    def __init__(self, model: Runtime, context: bytes) -> None:
        self.model = model
        out, self.state = model.prefill(np.array([[CLS_ID, *context]], dtype=np.int64))
        self.logits: Array = out["lm_logits"][:, -1]  # (1, 257)

    def advance(self, parents: list[int], next_bytes: list[int]) -> Array:
        self.state = self.state.select(parents)
        self.logits = self.model.next_logits(np.array(next_bytes, dtype=np.int64), self.state)
        return self.logits


class _RecomputeRows:
    """Full recompute per step (legacy models)."""

    def __init__(self, model: Runtime, context: bytes) -> None:
        self.model, self.rows = model, [list(context)]
        self.logits = self._run()

    def _run(self) -> Array:
        tokens = np.array([[CLS_ID, *r] for r in self.rows], dtype=np.int64)
        return self.model.forward(tokens)["lm_logits"][:, -1]

    def advance(self, parents: list[int], next_bytes: list[int]) -> Array:
        self.rows = [self.rows[p] + [b] for p, b in zip(parents, next_bytes, strict=True)]
        self.logits = self._run()
        return self.logits


def _log_softmax(z: Array) -> NDArray[np.float64]:
    y = z.astype(np.float64)
    y -= y.max(axis=-1, keepdims=True)
    out: NDArray[np.float64] = y - np.log(np.exp(y).sum(axis=-1, keepdims=True))
    return out


def _logsumexp(z: NDArray[np.float64]) -> NDArray[np.float64]:
    top = z.max(axis=-1, keepdims=True)
    out: NDArray[np.float64] = (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))[..., 0]
    return out


def complete_word(model: Any, context: bytes, n_items: int = 5, width: int = 8,
                  max_bytes: int = 24, cancelled: Callable[[], bool] | None = None) -> list[WordCandidate]:
    """Top `n_items` word completions after `context` (which ends with the typed prefix)."""
    runtime = as_runtime(model)
    context = char_safe_tail(context, max_context_bytes(runtime) - max_bytes)
    has_prefix = bool(context) and is_word_char(context.decode("utf-8", "replace")[-1])
    rows = _RecomputeRows(runtime, context) if runtime.legacy else _CausalRows(runtime, context)
    beams, finished = [_Beam(b"", 0.0)], dict[bytes, float]()
    logits = rows.logits
    for _ in range(max_bytes):
        if cancelled is not None and cancelled():
            break
        logp = _log_softmax(logits)  # (B, 257)
        base = np.array([b.logp for b in beams])[:, None]  # (B, 1)
        pending = [b.pending() for b in beams]
        ends = base[:, 0] + _logsumexp(logp[:, _ASCII_BOUNDARY])  # (B,)
        for beam, pend, end in zip(beams, pending, ends.tolist(), strict=True):
            if not pend and (beam.data or has_prefix):
                finished[beam.data] = end
        allowed = np.stack([allowed_mask(p) for p in pending]) & ~_ASCII_BOUNDARY
        total = np.where(allowed, base + logp, -math.inf).ravel()
        top = np.argsort(-total, kind="stable")[:min(2 * width, int(allowed.sum()))]
        options = [(float(total[i]), int(i) // logp.shape[1], int(i) % logp.shape[1]) for i in top]
        kept = [o for o in options if _keeps_word(beams[o[1]].data + bytes([o[2]]))][:width]
        bar = sorted(finished.values(), reverse=True)[n_items - 1] if len(finished) >= n_items else -math.inf
        if not kept or kept[0][0] < bar:
            break
        beams = [_Beam(beams[i].data + bytes([b]), lp) for lp, i, b in kept]
        logits = rows.advance([i for _, i, _ in kept], [b for _, _, b in kept])
    best = sorted(finished.items(), key=lambda kv: -kv[1])[:n_items]
    return [WordCandidate(data.decode("utf-8"), math.exp(lp)) for data, lp in best]


def _keeps_word(data: bytes) -> bool:
    """False once a complete non-word character (e.g. an emoji) has been produced."""
    text = data.decode("utf-8", errors="ignore")
    return not text or is_word_char(text[-1])
