"""One-position decoding: the state a sequence leaves behind, and step().

A decode step touches a few (1, 128)-sized vectors per block, so per-operation overhead, not
arithmetic, decides its speed: ~10 µs per PyTorch op, ~1 µs per NumPy op, and nothing at all
in the compiled kernel (kernels.py, Numba), which runs a whole step as one loop nest. The
NumPy code here is the reference the kernel is tested against, and the fallback when Numba
is missing. ``StepWeights`` are packed once per model (runtime.step_weights); the state lives
in NumPy arrays and is updated in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]
_ONE = np.float32(1.0)


@dataclass(frozen=True)
class StepWeights:
    """Weights prepared once per prefill; a state's steps use them (the model is frozen).
    The blocks are stacked (nb = number of blocks) so one compiled kernel runs them all."""

    embed_in: Array  # (257, d): embedding already passed through in_proj
    modulation: Array  # (max_len,): QIM1D per position
    dw: Array  # (nb, k, d): depthwise taps; tap j reads the input (k-1-j)*dilation positions back
    pw: Array  # (nb, d, d): pointwise conv, (C_in, C_out)
    dilation: NDArray[np.int64]  # (nb,)
    ring_offset: NDArray[np.int64]  # (nb + 1,): block i's ring buffer rows in DecodeState.history
    block_norm_w: Array  # (nb, d)
    block_norm_b: Array  # (nb, d)
    block_norm_eps: Array  # (nb,)
    fc1: Array  # (nb, d, hidden): SE squeeze
    fc1_b: Array  # (nb, hidden)
    fc2: Array  # (nb, hidden, d): SE excite
    fc2_b: Array  # (nb, d)
    norm_w: Array
    norm_b: Array
    norm_eps: float
    lm: Array  # (d, 257): the tied embedding, transposed
    lang: Array  # (d, n_langs)
    lang_b: Array
    boundary: Array | None  # (d, 2)
    boundary_b: Array | None
    temperatures: Array | None = None  # (n_langs,): ModelConfig.temperatures, None if not set

    @property
    def ring_rows(self) -> int:
        return int(self.ring_offset[-1])


@dataclass
class DecodeState:
    """Everything step() needs to continue a sequence: O(model size), not O(length)."""

    pos: NDArray[np.int64]  # (B,): tokens each row has consumed so far
    history: Array  # (B, ring_rows, d): every block's ring buffer of past block inputs
    se_sum: Array  # (B, nb, d): per block, the sum of its SE inputs so far
    feat_sum: Array  # (B, d): sum of final features, for the causal language head
    weights: StepWeights = field(repr=False)

    def clone(self) -> DecodeState:
        return DecodeState(self.pos.copy(), self.history.copy(), self.se_sum.copy(), self.feat_sum.copy(),
                           self.weights)

    def select(self, rows: NDArray[np.int64] | list[int]) -> DecodeState:
        """A new state holding the given batch rows (for beams and batched candidates)."""
        idx = np.asarray(rows, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError("rows must be a list of row indices")
        return DecodeState(self.pos[idx], self.history[idx], self.se_sum[idx], self.feat_sum[idx],
                           self.weights)


def put_row(state: DecodeState, row: int, other: DecodeState) -> None:
    """Overwrite batch row `row` of `state` with `other`'s only row (same weights)."""
    state.pos[row] = other.pos[0]
    state.history[row] = other.history[0]
    state.se_sum[row] = other.se_sum[0]
    state.feat_sum[row] = other.feat_sum[0]


def layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    inv_n = np.float32(1.0 / x.shape[-1])  # ndarray.mean() costs ~6 µs of Python; sum() does not
    centred = x - x.sum(axis=-1, keepdims=True) * inv_n
    var = (centred * centred).sum(axis=-1, keepdims=True) * inv_n
    out: Array = centred / np.sqrt(var + np.float32(eps)) * w + b
    return out


def silu(x: Array) -> Array:
    return x * sigmoid(x)


def sigmoid(x: Array) -> Array:
    out: Array = _ONE / (_ONE + np.exp(-x))
    return out


def _block_step(x: Array, st: DecodeState, w: StepWeights, i: int) -> Array:
    """Reference NumPy version of one block (the compiled kernel must match it)."""
    lo, hi = int(w.ring_offset[i]), int(w.ring_offset[i + 1])
    size, dw, k, dil = hi - lo, w.dw[i], w.dw.shape[1], int(w.dilation[i])
    rows, pos = np.arange(x.shape[0]), st.pos
    z = x * dw[-1]  # (B, C): depthwise, the current input's tap
    for j in range(k - 1):  # the past taps, read from the ring buffer
        z += st.history[rows, lo + (pos - (k - 1 - j) * dil) % size] * dw[j]
    y = z @ w.pw[i]
    if size:
        st.history[rows, lo + pos % size] = x
    y = silu(layer_norm(y, w.block_norm_w[i], w.block_norm_b[i], float(w.block_norm_eps[i])))
    st.se_sum[:, i] += y
    h = silu(st.se_sum[:, i] @ w.fc1[i] / (pos[:, None] + 1).astype(np.float32) + w.fc1_b[i])
    out: Array = x + y * sigmoid(h @ w.fc2[i] + w.fc2_b[i])
    return out


def _features_numpy(tokens: NDArray[np.int64], state: DecodeState) -> Array:
    w = state.weights
    x = w.embed_in[tokens] * w.modulation[np.minimum(state.pos, w.modulation.shape[0] - 1)][:, None]
    for i in range(w.dw.shape[0]):
        x = _block_step(x, state, w, i)
    return layer_norm(x, w.norm_w, w.norm_b, w.norm_eps)


@lru_cache(maxsize=1)
def compiled_kernel() -> Callable[..., Any] | None:
    """The compiled step (imports Numba on first use, ~0.4 s), or None without Numba."""
    from . import kernels

    return kernels.features_and_logits if kernels.AVAILABLE else None


@lru_cache(maxsize=1)
def compiled_calibration() -> Callable[..., Any]:
    """calibrate() compiled, in place on the state after a step (only with compiled_kernel())."""
    from . import kernels

    return kernels.calibrate_rows  # type: ignore[no-any-return]


def advance(tokens: NDArray[np.int64], state: DecodeState,
            compiled: bool | None = None) -> tuple[Array, Array]:
    """Consume one token per row (B,), updating `state` in place: (features (B, d), next-byte
    logits (B, 257)). `compiled`: use the compiled kernel (None: when available), else the
    reference NumPy code. The language and boundary heads are left to lang_logits()/step();
    a calibrated model's logits are already divided by their temperature (calibrate())."""
    w, pos = state.weights, state.pos
    if tokens.shape != pos.shape:
        raise ValueError(f"one token per row: got {tokens.shape[0]} for {pos.shape[0]} rows")
    kernel = compiled_kernel() if compiled is not False else None
    if compiled and kernel is None:
        raise RuntimeError("the compiled decode kernel is not available (Numba is not installed)")
    if kernel is not None:
        h, logits = kernel(
            tokens, pos, w.embed_in, w.modulation, w.dw, w.pw, w.dilation, w.ring_offset,
            w.block_norm_w, w.block_norm_b, w.block_norm_eps, w.fc1, w.fc1_b, w.fc2, w.fc2_b,
            w.norm_w, w.norm_b, np.float32(w.norm_eps), w.lm, state.history, state.se_sum)
    else:
        h = _features_numpy(tokens, state)
        logits = h @ w.lm
    state.feat_sum += h
    state.pos = pos + 1
    if w.temperatures is not None:
        if kernel is not None:
            compiled_calibration()(logits, state.feat_sum, state.pos, w.lang, w.lang_b,
                                   w.temperatures)
        else:
            logits = calibrate(logits, lang_logits(state), w.temperatures)
    return h, logits


def calibrate(logits: Array, lang: Array, temperatures: Array) -> Array:
    """Next-byte logits (..., 257) divided by the temperature of the language the language
    logits (..., n_langs) point to (their softmax mixture of `temperatures`)."""
    q = np.exp(lang - lang.max(axis=-1, keepdims=True))
    temp = (q @ temperatures) / q.sum(axis=-1)
    out: Array = logits / temp[..., None]
    return out


def lang_logits(state: DecodeState) -> Array:
    """(B, n_langs): the causal language head after everything the state has seen."""
    w = state.weights
    mean = state.feat_sum / state.pos[:, None].astype(np.float32)
    return np.asarray(mean @ w.lang + w.lang_b, dtype=np.float32)


def step(tokens: NDArray[np.int64], state: DecodeState, compiled: bool | None = None) -> dict[str, Array]:
    """advance() plus every head: lm_logits, lang_logits and (if the model has it) boundary_logits."""
    h, logits = advance(tokens, state, compiled)
    w = state.weights
    out = {"lm_logits": logits, "lang_logits": lang_logits(state)}
    if w.boundary is not None and w.boundary_b is not None:
        out["boundary_logits"] = h @ w.boundary + w.boundary_b
    return out
