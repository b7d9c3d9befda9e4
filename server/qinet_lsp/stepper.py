"""One-position decoding kernels in NumPy.

A decode step touches a few (1, 128)-sized vectors per block; PyTorch's per-operation
overhead (~10 µs here) would dominate it, NumPy's is ~1 µs. The weights are copied out of
the model once per prefill (``StepWeights``) and the state lives in NumPy arrays, so
``step()`` never calls into torch. The reference test checks step() against forward().
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]
_ONE = np.float32(1.0)


@dataclass(frozen=True)
class BlockWeights:
    kernel: int
    dilation: int
    conv: Array  # (k, C, C): per tap, the depthwise weight and the pointwise conv fused
    norm_w: Array  # (C,)
    norm_b: Array
    eps: float
    fc1: Array  # (C, hidden)
    fc1_b: Array
    fc2: Array  # (hidden, C)
    fc2_b: Array


@dataclass(frozen=True)
class StepWeights:
    """Weights prepared once per prefill; a state's steps use them (the model is frozen)."""

    embed_in: Array  # (257, d): embedding already passed through in_proj
    modulation: Array  # (max_len,): QIM1D per position
    blocks: list[BlockWeights]
    norm_w: Array
    norm_b: Array
    norm_eps: float
    lm: Array  # (d, 257): the tied embedding, transposed
    lang: Array  # (d, n_langs)
    lang_b: Array
    boundary: Array | None  # (d, 2)
    boundary_b: Array | None


@dataclass
class BlockState:
    history: Array  # (B, (k-1)*dilation, C): ring buffer of past block inputs
    se_sum: Array  # (B, C): sum of the SE inputs so far


@dataclass
class DecodeState:
    """Everything step() needs to continue a sequence: O(model size), not O(length)."""

    pos: int  # number of tokens consumed so far
    blocks: list[BlockState]
    feat_sum: Array  # (B, d): sum of final features, for the causal language head
    weights: StepWeights = field(repr=False)

    def clone(self) -> DecodeState:
        return DecodeState(self.pos, [BlockState(b.history.copy(), b.se_sum.copy())
                                      for b in self.blocks], self.feat_sum.copy(), self.weights)

    def select(self, rows: NDArray[np.int64] | list[int]) -> DecodeState:
        """A new state holding the given batch rows (for beams)."""
        idx = np.asarray(rows, dtype=np.int64)
        return DecodeState(self.pos, [BlockState(b.history[idx], b.se_sum[idx])
                                      for b in self.blocks], self.feat_sum[idx], self.weights)


def _layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    inv_n = np.float32(1.0 / x.shape[-1])  # ndarray.mean() costs ~6 µs of Python; sum() does not
    centred = x - x.sum(axis=-1, keepdims=True) * inv_n
    var = (centred * centred).sum(axis=-1, keepdims=True) * inv_n
    out: Array = centred / np.sqrt(var + np.float32(eps)) * w + b
    return out


def _silu(x: Array) -> Array:
    return x * _sigmoid(x)


def _sigmoid(x: Array) -> Array:
    out: Array = _ONE / (_ONE + np.exp(-x))
    return out


def _block_step(x: Array, st: BlockState, w: BlockWeights, pos: int) -> Array:
    size = st.history.shape[1]
    y = x @ w.conv[-1]  # (B, C): the current input's tap (depthwise and pointwise fused)
    for j in range(w.kernel - 1):  # the past taps, read from the ring buffer
        y += st.history[:, (pos - (w.kernel - 1 - j) * w.dilation) % size] @ w.conv[j]
    if size:
        st.history[:, pos % size] = x
    y = _silu(_layer_norm(y, w.norm_w, w.norm_b, w.eps))
    st.se_sum += y
    h = _silu(st.se_sum @ w.fc1 * np.float32(1.0 / (pos + 1)) + w.fc1_b)
    out: Array = x + y * _sigmoid(h @ w.fc2 + w.fc2_b)
    return out


def step(tokens: NDArray[np.int64], state: DecodeState) -> dict[str, Array]:
    """Consume one token per row (B,), updating `state` in place."""
    w, pos = state.weights, state.pos
    x = w.embed_in[tokens] * w.modulation[min(pos, w.modulation.shape[0] - 1)]  # (B, d)
    for bst, bw in zip(state.blocks, w.blocks, strict=True):
        x = _block_step(x, bst, bw, pos)
    h = _layer_norm(x, w.norm_w, w.norm_b, w.norm_eps)
    state.feat_sum += h
    state.pos = pos + 1
    out = {"lm_logits": h @ w.lm,
           "lang_logits": state.feat_sum @ w.lang * np.float32(1.0 / (pos + 1)) + w.lang_b}
    if w.boundary is not None and w.boundary_b is not None:
        out["boundary_logits"] = h @ w.boundary + w.boundary_b
    return out
