"""The causal model in NumPy, for serving: parallel prefill, one-position steps, no PyTorch.

``NumpyModel`` is built from a state dict (NumPy arrays with the PyTorch model's parameter
names) and computes exactly what ``model.QINetMNLP`` computes with causal semantics; the
tests compare the two. The server loads checkpoints straight into it (see torchzip.py), so
it starts in a fraction of a second and never imports PyTorch. ``Runtime`` is what
decoders, generation and the word search need; a PyTorch model provides one with
``as_runtime()`` (legacy whole-sequence models run through PyTorch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from . import stepper
from .config import VOCAB_SIZE, ModelConfig
from .stepper import Array, DecodeState, StepWeights

Tokens = NDArray[np.int64]


class Runtime(Protocol):
    """A model as the decoders see it: NumPy in, NumPy out."""

    config: ModelConfig

    @property
    def legacy(self) -> bool: ...

    def forward(self, tokens: Tokens) -> dict[str, Array]: ...

    def prefill(self, tokens: Tokens) -> tuple[dict[str, Array], DecodeState]: ...

    def step(self, tokens: Tokens, state: DecodeState) -> dict[str, Array]: ...

    def next_logits(self, tokens: Tokens, state: DecodeState) -> Array: ...


def as_runtime(model: Any) -> Runtime:
    """`model` itself if it is a Runtime, else its runtime() (a PyTorch QINetMNLP)."""
    if isinstance(model, NumpyModel) or not hasattr(model, "runtime"):
        return model  # type: ignore[no-any-return]
    return model.runtime()  # type: ignore[no-any-return]


def _f32(a: Any) -> Array:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def modulation(sd: Mapping[str, NDArray[Any]], max_len: int) -> Array:
    """QIM1D's causal modulation over the whole grid (model.QIM1D.modulation, in NumPy)."""
    def g(name: str) -> NDArray[np.float64]:
        return np.asarray(sd[f"qim.{name}"], dtype=np.float64)

    theta = g("theta_grid").reshape(-1)[:max_len]
    tau = g("tau_grid").reshape(-1)[:max_len]
    base = g("a") * np.exp(-g("alpha") * theta) * np.sin(g("k") * theta) * np.cos(g("m") * theta)
    ua: NDArray[np.complex128] = g("u_alpha_re") + 1j * g("u_alpha_im")
    ub: NDArray[np.complex128] = g("u_beta_re") + 1j * g("u_beta_im")
    ua = ua / (np.sqrt((np.abs(ua) ** 2).sum()) + 1e-8)
    ub = ub / (np.sqrt((np.abs(ub) ** 2).sum()) + 1e-8)
    coeffs = ub * np.conj(ua)
    phase = 2.0 * g("E")[:, None] * tau[None, :] + g("delta")[:, None] * theta[None, :]  # (6, L)
    r = base * np.abs((coeffs[:, None] * np.exp(-1j * phase)).sum(axis=0))
    return _f32(0.5 + (r - r.min()) / (r.max() - r.min() + 1e-8))


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter and buffer of a causal or legacy model, with its shape (the tests check
    this against model.QINetMNLP's state_dict)."""
    d, k, n = config.d_model, config.kernel_size, len(config.dilations)
    hid = max(1, d // config.se_reduction)
    shapes: dict[str, tuple[int, ...]] = {"embed.weight": (VOCAB_SIZE, d)}
    for name in ("a", "alpha", "k", "m"):
        shapes[f"qim.{name}"] = ()
    for name in ("delta", "E", "u_alpha_re", "u_alpha_im", "u_beta_re", "u_beta_im"):
        shapes[f"qim.{name}"] = (6,)
    shapes |= {"qim.theta_grid": (config.max_len, 1), "qim.tau_grid": (1, config.max_len),
               "in_proj.weight": (d, d)}
    for i in range(n):
        p = f"blocks.{i}."
        shapes |= {p + "conv.dw.weight": (d, 1, k), p + "conv.pw.weight": (d, d, 1),
                   p + "conv.gn.weight": (d,), p + "conv.gn.bias": (d,),
                   p + "se.fc1.weight": (hid, d, 1), p + "se.fc1.bias": (hid,),
                   p + "se.fc2.weight": (d, hid, 1), p + "se.fc2.bias": (d,)}
    shapes |= {"norm.weight": (d,), "norm.bias": (d,), "lm_head.weight": (VOCAB_SIZE, d),
               "lang_head.weight": (config.n_langs, d), "lang_head.bias": (config.n_langs,)}
    if config.boundary_head:
        shapes |= {"boundary_head.weight": (2, d), "boundary_head.bias": (2,)}
    return shapes


def step_weights(config: ModelConfig, sd: Mapping[str, NDArray[Any]]) -> StepWeights:
    """The decode-time weights from a state dict (the single place this packing is done)."""
    n, k = len(config.dilations), config.kernel_size

    def blk(i: int, name: str) -> Array:
        return np.asarray(sd[f"blocks.{i}.{name}"], dtype=np.float32)

    embed = _f32(sd["embed.weight"])
    sizes = [(k - 1) * d for d in config.dilations]
    bw = sd.get("boundary_head.weight")
    bb = sd.get("boundary_head.bias")
    return StepWeights(
        embed_in=_f32(embed @ np.asarray(sd["in_proj.weight"], dtype=np.float32).T),
        modulation=modulation(sd, config.max_len),
        dw=_f32([blk(i, "conv.dw.weight")[:, 0, :].T for i in range(n)]),
        pw=_f32([blk(i, "conv.pw.weight")[:, :, 0].T for i in range(n)]),
        dilation=np.array(config.dilations, dtype=np.int64),
        ring_offset=np.cumsum([0, *sizes], dtype=np.int64),
        block_norm_w=_f32([blk(i, "conv.gn.weight") for i in range(n)]),
        block_norm_b=_f32([blk(i, "conv.gn.bias") for i in range(n)]),
        block_norm_eps=np.full(n, 1e-5, dtype=np.float32),
        fc1=_f32([blk(i, "se.fc1.weight")[:, :, 0].T for i in range(n)]),
        fc1_b=_f32([blk(i, "se.fc1.bias") for i in range(n)]),
        fc2=_f32([blk(i, "se.fc2.weight")[:, :, 0].T for i in range(n)]),
        fc2_b=_f32([blk(i, "se.fc2.bias") for i in range(n)]),
        norm_w=_f32(sd["norm.weight"]), norm_b=_f32(sd["norm.bias"]), norm_eps=1e-5,
        lm=_f32(embed.T), lang=_f32(np.asarray(sd["lang_head.weight"]).T),
        lang_b=_f32(sd["lang_head.bias"]),
        boundary=_f32(np.asarray(bw).T) if config.boundary_head and bw is not None else None,
        boundary_b=_f32(bb) if config.boundary_head and bb is not None else None,
        temperatures=_f32(config.temperatures) if config.temperatures else None)


class NumpyModel:
    """A causal QINetMNLP in NumPy (see module docstring)."""

    legacy = False

    def __init__(self, config: ModelConfig, state_dict: Mapping[str, NDArray[Any]]) -> None:
        if config.legacy:
            raise ValueError("NumpyModel runs causal models only; legacy models need PyTorch")
        self.config = config
        self.weights = step_weights(config, state_dict)

    def forward(self, tokens: Tokens) -> dict[str, Array]:
        return self.prefill(tokens)[0]

    def prefill(self, tokens: Tokens) -> tuple[dict[str, Array], DecodeState]:
        """Run tokens (B, L) in parallel: outputs at every position and the state after them."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be (batch, length), got shape {tokens.shape}")
        w, (batch, length) = self.weights, tokens.shape
        n_blocks, k = w.dw.shape[0], w.dw.shape[1]
        grid = w.modulation.shape[0]
        x = w.embed_in[tokens] * w.modulation[np.minimum(np.arange(length), grid - 1)][None, :, None]
        history = np.zeros((batch, w.ring_rows, x.shape[-1]), dtype=np.float32)
        se_sum = np.zeros((batch, n_blocks, x.shape[-1]), dtype=np.float32)
        count = np.arange(1, length + 1, dtype=np.float32)[None, :, None]
        for i in range(n_blocks):
            lo, size, dil = int(w.ring_offset[i]), int(w.ring_offset[i + 1] - w.ring_offset[i]), \
                int(w.dilation[i])
            if size:
                t = np.arange(max(0, length - size), length)
                history[:, lo + t % size] = x[:, t]
            z = x * w.dw[i, k - 1]
            for j in range(k - 1):
                back = (k - 1 - j) * dil
                if back < length:
                    z[:, back:] += x[:, :length - back] * w.dw[i, j]
            y = z @ w.pw[i]
            y = stepper.silu(stepper.layer_norm(y, w.block_norm_w[i], w.block_norm_b[i],
                                                float(w.block_norm_eps[i])))
            se_sum[:, i] = y.sum(axis=1)
            # running mean @ fc1 == running mean of (y @ fc1): the cumsum runs over d/8 columns
            hidden = stepper.silu(np.cumsum(y @ w.fc1[i], axis=1) / count + w.fc1_b[i])
            x = x + y * stepper.sigmoid(hidden @ w.fc2[i] + w.fc2_b[i])
        h = stepper.layer_norm(x, w.norm_w, w.norm_b, w.norm_eps)
        lang_seq = np.cumsum(h @ w.lang, axis=1) / count + w.lang_b
        logits = h @ w.lm
        if w.temperatures is not None:
            logits = stepper.calibrate(logits, lang_seq.astype(np.float32, copy=False), w.temperatures)
        out = {"lm_logits": logits, "lang_logits_seq": lang_seq, "lang_logits": lang_seq[:, -1]}
        if w.boundary is not None and w.boundary_b is not None:
            out["boundary_logits"] = h @ w.boundary + w.boundary_b
        pos = np.full(batch, length, dtype=np.int64)
        return out, DecodeState(pos, history, se_sum, h.sum(axis=1), w)

    def step(self, tokens: Tokens, state: DecodeState) -> dict[str, Array]:
        return stepper.step(np.asarray(tokens, dtype=np.int64), state)

    def next_logits(self, tokens: Tokens, state: DecodeState) -> Array:
        """step() for decoding: only the next-byte logits (B, 257); see stepper.lang_logits."""
        return stepper.advance(tokens, state)[1]
