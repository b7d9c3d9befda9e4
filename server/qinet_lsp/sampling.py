"""Next-byte selection from the last position's logits.

Order of operations (each step is one small function, so each can be tested alone):
mask [CLS] and every byte that would make the output invalid UTF-8 -> temperature
(0 means greedy) -> top-k (0 means off) -> top-p (1 means off) -> softmax -> multinomial
drawn from a ``torch.Generator`` seeded per request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from .model import VOCAB_SIZE
from .utf8 import allowed_next_bytes

GREEDY_BELOW = 1e-4  # temperatures this small act as 0 (greedy); dividing by them overflows


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 0.95

    def __post_init__(self) -> None:
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 turns it off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (1 turns it off), got {self.top_p}")


@lru_cache(maxsize=64)
def _mask_for(ranges: tuple[tuple[int, int], ...]) -> Tensor:
    mask = torch.zeros(VOCAB_SIZE, dtype=torch.bool)
    for lo, hi in ranges:
        mask[lo:hi + 1] = True
    return mask  # [CLS] (256) is never in a byte range, so it is never allowed


def allowed_mask(pending: bytes) -> Tensor:
    """(257,) bool: the bytes that may follow `pending` (an unfinished UTF-8 character)."""
    return _mask_for(allowed_next_bytes(pending))


def mask_disallowed(logits: Tensor, allowed: Tensor) -> Tensor:
    return logits.masked_fill(~allowed, float("-inf"))


def apply_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits (ties at the k-th value are kept too)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of most likely tokens whose probability sum exceeds p.
    The most likely token is always kept, so the set is never empty."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits, dim=-1)
    before = probs.cumsum(dim=-1) - probs  # mass of the strictly more likely tokens
    drop_sorted = before > p
    drop_sorted[..., 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def filter_logits(logits: Tensor, allowed: Tensor, cfg: SamplingConfig) -> Tensor:
    """Masked, temperature-scaled, top-k/top-p filtered logits (for temperature > 0)."""
    logits = mask_disallowed(logits.float(), allowed) / cfg.temperature
    return apply_top_p(apply_top_k(logits, cfg.top_k), cfg.top_p)


def sample_next(logits: Tensor, allowed: Tensor, cfg: SamplingConfig,
                generator: torch.Generator | None) -> int:
    """Pick the next token from one position's logits (257,)."""
    if cfg.temperature < GREEDY_BELOW:  # greedy
        return int(torch.argmax(mask_disallowed(logits.float(), allowed)).item())
    probs = torch.softmax(filter_logits(logits, allowed, cfg), dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator).item())
