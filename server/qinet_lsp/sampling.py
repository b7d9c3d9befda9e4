"""Next-byte selection from the last position's logits (NumPy, or one compiled loop).

Order of operations (each rule is one small function, so each can be tested alone):
mask [CLS] and every byte that would make the output invalid UTF-8 -> temperature
(0 means greedy) -> top-k (0 means off) -> top-p (1 means off) -> softmax -> one draw
from a ``numpy.random.Generator`` seeded per request. ``sample_next`` applies the same rules
in one pass over the sorted logits (the tests check it against the separate functions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .config import VOCAB_SIZE
from .utf8 import allowed_next_bytes

GREEDY_BELOW = 1e-4  # temperatures this small act as 0 (greedy); dividing by them overflows
Floats = NDArray[np.floating]
Mask = NDArray[np.bool_]


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


def rng_for(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


@lru_cache(maxsize=64)
def _mask_for(ranges: tuple[tuple[int, int], ...]) -> Mask:
    mask = np.zeros(VOCAB_SIZE, dtype=bool)
    for lo, hi in ranges:
        mask[lo:hi + 1] = True
    mask.flags.writeable = False  # shared by every caller
    return mask  # [CLS] (256) is never in a byte range, so it is never allowed


@lru_cache(maxsize=1024)
def allowed_mask(pending: bytes) -> Mask:
    """(257,) bool: the bytes that may follow `pending` (an unfinished UTF-8 character)."""
    return _mask_for(allowed_next_bytes(pending))


def mask_disallowed(logits: Floats, allowed: Mask) -> Floats:
    return np.where(allowed, logits, -np.inf)


def apply_top_k(logits: Floats, k: int) -> Floats:
    """Keep the k largest logits (ties at the k-th value are kept too)."""
    n = logits.shape[-1]
    if k <= 0 or k >= n:
        return logits
    kth = np.partition(logits, n - k, axis=-1)[..., n - k:n - k + 1]
    return np.where(logits < kth, -np.inf, logits)


def _softmax(z: Floats) -> NDArray[np.float64]:
    e = np.exp(z.astype(np.float64) - np.max(z, axis=-1, keepdims=True))
    out: NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def apply_top_p(logits: Floats, p: float) -> Floats:
    """Keep the smallest set of most likely tokens whose probability sum exceeds p.
    The most likely token is always kept, so the set is never empty."""
    if p >= 1.0:
        return logits
    order = np.argsort(-logits, axis=-1, kind="stable")
    probs = _softmax(np.take_along_axis(logits, order, axis=-1))
    before = np.cumsum(probs, axis=-1) - probs  # mass of the strictly more likely tokens
    drop_sorted = before > p
    drop_sorted[..., 0] = False
    drop = np.empty_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, -np.inf, logits)


def filter_logits(logits: Floats, allowed: Mask, cfg: SamplingConfig) -> Floats:
    """Masked, temperature-scaled, top-k/top-p filtered logits (for temperature > 0)."""
    z = mask_disallowed(logits.astype(np.float64), allowed) / cfg.temperature
    return apply_top_p(apply_top_k(z, cfg.top_k), cfg.top_p)


def sample_next(logits: Floats, allowed: Mask, cfg: SamplingConfig,
                rng: np.random.Generator | None) -> int:
    """Pick the next token from one position's logits (257,). The compiled sampler (kernels.py)
    runs the same steps with the same sums when Numba is there; `sample_numpy` otherwise."""
    if cfg.temperature < GREEDY_BELOW or rng is None:  # greedy
        return int(np.argmax(np.where(allowed, logits, -np.inf)))
    u = rng.random()
    fast = compiled_sampler()
    if fast is not None:
        return int(fast(logits, allowed, float(cfg.temperature), int(cfg.top_k), float(cfg.top_p), u))
    return sample_numpy(logits, allowed, cfg, u)


def sample_numpy(logits: Floats, allowed: Mask, cfg: SamplingConfig, u: float) -> int:
    """One pass over the sorted logits; `u` is the uniform draw in [0, 1)."""
    z = np.where(allowed, logits, -np.inf).astype(np.float64) / cfg.temperature
    order = np.argsort(-z, kind="stable")
    zs = z[order]
    n = int(np.count_nonzero(zs > -np.inf)) or 1  # the allowed tokens come first
    if 0 < cfg.top_k < n:  # ties with the k-th value stay
        n = int(np.searchsorted(-zs[:n], -zs[cfg.top_k - 1], side="right"))
    cdf = np.cumsum(np.exp(zs[:n] - zs[0]))  # unnormalised: cdf[-1] is the total
    if cfg.top_p < 1.0:  # keep while the mass strictly before a token is at most p
        n = 1 + int(np.searchsorted(cdf[:n - 1], cfg.top_p * cdf[-1], side="right"))
        cdf = cdf[:n]
    i = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
    return int(order[min(i, n - 1)])


@lru_cache(maxsize=1)
def compiled_sampler() -> Callable[..., Any] | None:
    """The compiled sampler (imports Numba on first use), or None without Numba."""
    from . import kernels

    return kernels.sample if kernels.AVAILABLE else None
