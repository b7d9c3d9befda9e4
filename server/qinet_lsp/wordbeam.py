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

import torch
from torch import Tensor

from .decoding import max_context_bytes
from .model import CLS_ID, QINetMNLP
from .sampling import allowed_mask
from .stopping import is_word_char
from .utf8 import char_safe_tail, sequence_length

_ASCII_BOUNDARY = torch.tensor([not is_word_char(chr(b)) for b in range(128)] + [False] * 129)
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

    def __init__(self, model: QINetMNLP, context: bytes) -> None:
        self.model = model
        out, self.state = model.prefill(torch.tensor([[CLS_ID, *context]]))
        self.logits: Tensor = out["lm_logits"][:, -1]  # (1, 257)

    def advance(self, parents: list[int], next_bytes: list[int]) -> Tensor:
        self.state = self.state.select(parents)
        self.logits = self.model.step(next_bytes, self.state)["lm_logits"]
        return self.logits


class _RecomputeRows:
    """Full recompute per step (legacy models)."""

    def __init__(self, model: QINetMNLP, context: bytes) -> None:
        self.model, self.rows = model, [list(context)]
        self.logits = self._run()

    def _run(self) -> Tensor:
        tokens = torch.tensor([[CLS_ID, *r] for r in self.rows])
        logits: Tensor = self.model(tokens)["lm_logits"][:, -1]
        return logits

    def advance(self, parents: list[int], next_bytes: list[int]) -> Tensor:
        self.rows = [self.rows[p] + [b] for p, b in zip(parents, next_bytes, strict=True)]
        self.logits = self._run()
        return self.logits


@torch.inference_mode()
def complete_word(model: QINetMNLP, context: bytes, n_items: int = 5, width: int = 8,
                  max_bytes: int = 24, cancelled: Callable[[], bool] | None = None) -> list[WordCandidate]:
    """Top `n_items` word completions after `context` (which ends with the typed prefix)."""
    context = char_safe_tail(context, max_context_bytes(model) - max_bytes)
    has_prefix = bool(context) and is_word_char(context.decode("utf-8", "replace")[-1])
    rows = _RecomputeRows(model, context) if model.legacy else _CausalRows(model, context)
    beams, finished = [_Beam(b"", 0.0)], dict[bytes, float]()
    logits = rows.logits
    for _ in range(max_bytes):
        if cancelled is not None and cancelled():
            break
        logp = torch.log_softmax(logits.float(), dim=-1)  # (B, 257)
        base = torch.tensor([b.logp for b in beams])[:, None]  # (B, 1)
        pending = [b.pending() for b in beams]
        ends = base[:, 0] + torch.logsumexp(logp[:, _ASCII_BOUNDARY], dim=1)  # (B,)
        for beam, pend, end in zip(beams, pending, ends.tolist(), strict=True):
            if not pend and (beam.data or has_prefix):
                finished[beam.data] = end
        allowed = torch.stack([allowed_mask(p) for p in pending]) & ~_ASCII_BOUNDARY
        total = (base + logp).masked_fill(~allowed, -math.inf).flatten()
        top = torch.topk(total, min(2 * width, int(allowed.sum())))
        options = [(lp, i // logp.shape[1], i % logp.shape[1])
                   for lp, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)]
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
