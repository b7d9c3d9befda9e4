"""The decode step as one compiled kernel (Numba), for when per-operation overhead dominates.

Also the sampler (``sample``): sampling.sample_next's rules as one loop, ~10x faster than
NumPy's dozen calls on a 257-long vector.

A step of the shipped model is ~0.5 M multiply-adds over cache-sized weights: NumPy spends
more time dispatching its ~15 small operations per block than computing them. Here the
whole step, all blocks and the next-byte head, is one loop nest compiled by Numba, which
releases the GIL while it runs (the LSP thread stays responsive).

Numba is optional: when it cannot be imported (or ``QINET_NO_JIT=1``) ``AVAILABLE`` is
False and ``stepper`` uses its NumPy reference code, which the tests compare this with.
Compiled code is cached on disk next to this file (or in Numba's user cache) so only the
first start on a machine pays the compile time (a few seconds, in the background).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

AVAILABLE = False
features_and_logits: Any = None
calibrate_rows: Any = None
sample: Any = None

if os.environ.get("QINET_NO_JIT", "") not in ("", "0"):
    log.info("QINET_NO_JIT set: decoding with NumPy")
else:
    try:
        import numba
    except ImportError:  # pragma: no cover - depends on the installation
        log.info("numba not installed: decoding with NumPy")
    else:
        AVAILABLE = True

if AVAILABLE:

    @numba.njit(cache=True, nogil=True, fastmath=True)  # type: ignore[misc,untyped-decorator]
    def _layer_norm_silu(y: Any, w: Any, b: Any, eps: Any, silu: bool) -> None:
        n = y.shape[0]
        mean = np.float32(0.0)
        for c in range(n):
            mean += y[c]
        mean /= n
        var = np.float32(0.0)
        for c in range(n):
            d = y[c] - mean
            var += d * d
        inv = np.float32(1.0) / np.sqrt(var / n + eps)
        for c in range(n):
            v = (y[c] - mean) * inv * w[c] + b[c]
            y[c] = v / (np.float32(1.0) + np.exp(-v)) if silu else v

    @numba.njit(cache=True, nogil=True, fastmath=True)  # type: ignore[misc,untyped-decorator]
    def _features_and_logits(tokens: Any, pos: Any, embed_in: Any, modulation: Any, dw: Any,
                             pw: Any, dilation: Any, ring_offset: Any, bn_w: Any, bn_b: Any,
                             bn_eps: Any,
                             fc1: Any, fc1_b: Any, fc2: Any, fc2_b: Any, norm_w: Any,
                             norm_b: Any, norm_eps: np.float32, lm: Any, history: Any,
                             se_sum: Any) -> Any:
        # Rows (batched candidates, beams) are the innermost loop around each weight row, so
        # a batch reads every weight once per step, not once per row.
        n_rows = tokens.shape[0]
        n_blocks, k, d = dw.shape[0], dw.shape[1], dw.shape[2]
        hidden = fc1.shape[2]
        vocab = lm.shape[1]
        x = np.empty((n_rows, d), dtype=np.float32)
        y = np.empty((n_rows, d), dtype=np.float32)
        src = np.empty((n_rows, d), dtype=np.float32)
        h = np.empty(hidden, dtype=np.float32)
        logits = np.zeros((n_rows, vocab), dtype=np.float32)
        for r in range(n_rows):
            mod = modulation[min(pos[r], modulation.shape[0] - 1)]
            for c in range(d):
                x[r, c] = embed_in[tokens[r], c] * mod
        for i in range(n_blocks):
            lo = ring_offset[i]
            size = ring_offset[i + 1] - lo
            src[:, :] = 0.0  # the depthwise conv, then one pointwise matrix-vector product
            for j in range(k):  # tap j reads the input (k - 1 - j) * dilation positions back
                back = (k - 1 - j) * dilation[i]
                for r in range(n_rows):
                    row = lo + (pos[r] - back) % size if back > 0 else 0
                    for c in range(d):
                        v = x[r, c] if back == 0 else history[r, row, c]
                        src[r, c] += v * dw[i, j, c]
            y[:, :] = 0.0
            for a in range(d):
                for r in range(n_rows):
                    za = src[r, a]
                    for c in range(d):
                        y[r, c] += za * pw[i, a, c]
            for r in range(n_rows):
                if size > 0:
                    history[r, lo + pos[r] % size, :] = x[r]
                inv_count = np.float32(1.0) / np.float32(pos[r] + 1)
                _layer_norm_silu(y[r], bn_w[i], bn_b[i], bn_eps[i], True)
                for c in range(d):
                    se_sum[r, i, c] += y[r, c]
                for o in range(hidden):
                    h[o] = 0.0
                for a in range(d):
                    s = se_sum[r, i, a] * inv_count
                    for o in range(hidden):
                        h[o] += s * fc1[i, a, o]
                for o in range(hidden):
                    v = h[o] + fc1_b[i, o]
                    h[o] = v / (np.float32(1.0) + np.exp(-v))
                for c in range(d):
                    g = fc2_b[i, c]
                    for o in range(hidden):
                        g += h[o] * fc2[i, o, c]
                    x[r, c] += y[r, c] / (np.float32(1.0) + np.exp(-g))
        for r in range(n_rows):
            _layer_norm_silu(x[r], norm_w, norm_b, norm_eps, False)
        for c in range(d):
            for r in range(n_rows):
                xc = x[r, c]
                for v in range(vocab):
                    logits[r, v] += xc * lm[c, v]
        return x, logits

    features_and_logits = _features_and_logits

    @numba.njit(cache=True, nogil=True, fastmath=True)  # type: ignore[misc,untyped-decorator]
    def _calibrate_rows(logits: Any, feat_sum: Any, pos: Any, lang: Any, lang_b: Any,
                        temperatures: Any) -> None:
        # stepper.calibrate on the state after the step, in place: the language head on the
        # running mean of the features, its softmax mixture of temperatures, the division.
        d, n_langs = lang.shape[0], lang.shape[1]
        z = np.empty(n_langs, dtype=np.float32)
        for r in range(logits.shape[0]):
            inv = np.float32(1.0) / np.float32(pos[r])
            for j in range(n_langs):
                z[j] = lang_b[j]
            for c in range(d):
                m = feat_sum[r, c] * inv
                for j in range(n_langs):
                    z[j] += m * lang[c, j]
            top = z.max()
            total, mixed = np.float32(0.0), np.float32(0.0)
            for j in range(n_langs):
                e = np.exp(z[j] - top)
                total += e
                mixed += e * temperatures[j]
            scale = total / mixed
            for v in range(logits.shape[1]):
                logits[r, v] *= scale

    calibrate_rows = _calibrate_rows

    @numba.njit(cache=True, nogil=True)  # type: ignore[misc,untyped-decorator]
    def _sample(logits: Any, allowed: Any, temperature: float, top_k: int, top_p: float,
                u: float) -> int:
        # sampling.sample_next's rules, in the same order and with the same sums (no fastmath:
        # the two must pick the same byte for the same draw u).
        vocab = logits.shape[0]
        z = np.empty(vocab, dtype=np.float64)
        for v in range(vocab):
            z[v] = np.float64(logits[v]) / temperature if allowed[v] else -np.inf
        order = np.argsort(-z, kind="mergesort")  # stable: ties keep byte order
        n = 0
        while n < vocab and z[order[n]] > -np.inf:
            n += 1
        n = max(n, 1)
        if 0 < top_k < n:  # ties with the k-th value stay
            kth = z[order[top_k - 1]]
            m = top_k
            while m < n and z[order[m]] >= kth:
                m += 1
            n = m
        top = z[order[0]]
        cdf = np.empty(n, dtype=np.float64)
        acc = 0.0
        for i in range(n):
            acc += np.exp(z[order[i]] - top)
            cdf[i] = acc
        if top_p < 1.0:  # keep while the mass before a byte is at most p
            limit = top_p * cdf[n - 1]
            m = 1
            while m < n and cdf[m - 1] <= limit:
                m += 1
            n = m
        target = u * cdf[n - 1]
        i = 0
        while i < n and cdf[i] <= target:
            i += 1
        return int(order[min(i, n - 1)])

    sample = _sample
