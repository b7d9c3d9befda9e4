"""QINetMNLP: a byte-level language model with language-ID and word-boundary heads.

Two semantics share one set of parameters (and the original release's parameter names):

* ``causal`` (default): every output at position t depends only on tokens <= t.
  Squeeze-excitation gates come from the running mean over positions <= t, the conv
  normalisation is per position (over channels), QIM1D is normalised once over the fixed
  ``max_len`` grid, and the language head pools the final features with a running mean.
  This makes ``step()`` possible: one byte at O(1) cost from a small ``DecodeState``.
* ``legacy``: the original whole-sequence statistics (SE mean and GroupNorm over the
  whole sequence, QIM1D normalised over the current length, language head on ``[CLS]``).
  Used only to run checkpoints written by the original code; it needs a full recompute.

Positions at or past ``max_len`` (causal only) reuse the modulation of position
``max_len - 1``; generation keeps its window below ``max_len`` anyway (see decoding.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor, nn

from . import stepper
from .config import CLS_ID, N_BYTES, SEMANTICS, VOCAB_SIZE, ModelConfig
from .runtime import NumpyModel, Runtime, step_weights
from .stepper import Array, DecodeState, StepWeights

__all__ = ["CLS_ID", "N_BYTES", "SEMANTICS", "VOCAB_SIZE", "ModelConfig", "QINetMNLP"]

class QIM1D(nn.Module):
    """Position modulation in [0.5, 1.5]: a damped oscillation times an interference term."""

    theta_grid: Tensor  # (max_len, 1)
    tau_grid: Tensor  # (1, max_len)

    def __init__(self, max_len: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(1.0))
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.k = nn.Parameter(torch.tensor(4.0))
        self.m = nn.Parameter(torch.tensor(3.0))
        self.delta = nn.Parameter(torch.linspace(0.1, 0.6, 6))
        self.E = nn.Parameter(torch.linspace(0.05, 0.30, 6))
        self.u_alpha_re = nn.Parameter(torch.randn(6) * 0.3)
        self.u_alpha_im = nn.Parameter(torch.randn(6) * 0.3)
        self.u_beta_re = nn.Parameter(torch.randn(6) * 0.3)
        self.u_beta_im = nn.Parameter(torch.randn(6) * 0.3)
        grid = torch.linspace(0.0, 1.0, max_len)
        self.register_buffer("theta_grid", grid.view(max_len, 1))
        self.register_buffer("tau_grid", grid.view(1, max_len))

    def curve(self, length: int) -> Tensor:
        """The raw curve r(t) for t < length (only the diagonal theta = tau is ever used)."""
        theta = self.theta_grid[:length, 0]  # (L,)
        tau = self.tau_grid[0, :length]  # (L,)
        base = self.a * torch.exp(-self.alpha * theta) * torch.sin(self.k * theta) * torch.cos(
            self.m * theta)
        ua = torch.complex(self.u_alpha_re, self.u_alpha_im)
        ub = torch.complex(self.u_beta_re, self.u_beta_im)
        ua = ua / (ua.abs().pow(2).sum().sqrt() + 1e-8)
        ub = ub / (ub.abs().pow(2).sum().sqrt() + 1e-8)
        coeffs = ub * torch.conj(ua)  # (6,)
        total = torch.zeros(length, dtype=coeffs.dtype, device=theta.device)
        for i in range(6):  # same order of operations as the original, for exact legacy logits
            total = total + coeffs[i] * torch.exp(-1j * (2.0 * self.E[i] * tau + self.delta[i] * theta))
        return base * total.abs()  # (L,)

    def modulation(self, length: int) -> Tensor:
        """Causal: normalised once over the whole grid, so position t's value never changes."""
        r = self.curve(self.theta_grid.shape[0])
        m = 0.5 + (r - r.min()) / (r.max() - r.min() + 1e-8)
        if length > m.shape[0]:
            m = torch.cat([m, m[-1:].expand(length - m.shape[0])])
        return m[:length]  # (L,)

    def legacy_modulation(self, length: int) -> Tensor:
        """Original: normalised over the current length (position t sees the future)."""
        r = self.curve(length)
        return 0.5 + (r - r.min()) / (r.max() - r.min() + 1e-8)  # (L,)


class CausalDWConv1d(nn.Module):
    """Depthwise dilated causal conv, pointwise conv, normalisation, SiLU."""

    def __init__(self, ch: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.dw = nn.Conv1d(ch, ch, kernel, dilation=dilation, groups=ch, bias=False)
        self.pw = nn.Conv1d(ch, ch, 1, bias=False)
        self.gn = nn.GroupNorm(1, ch)

    def forward(self, x: Tensor, legacy: bool) -> Tensor:
        y = self.pw(self.dw(F.pad(x, (self.pad, 0))))  # (B, C, L)
        y = self.gn(y) if legacy else _channel_norm(y.transpose(1, 2), self.gn).transpose(1, 2)
        return F.silu(y)


def _channel_norm(y: Tensor, gn: nn.GroupNorm) -> Tensor:
    """Normalise each position over its channels (last dim), with GroupNorm's affine."""
    return F.layer_norm(y, y.shape[-1:], gn.weight, gn.bias, gn.eps)


class SE1D(nn.Module):
    def __init__(self, ch: int, reduction: int) -> None:
        super().__init__()
        hid = max(1, ch // reduction)
        self.fc1 = nn.Conv1d(ch, hid, 1)
        self.fc2 = nn.Conv1d(hid, ch, 1)

    def gate(self, s: Tensor) -> Tensor:
        """Gates from summary s, (B, C, L) -> (B, C, L)."""
        return torch.sigmoid(self.fc2(F.silu(self.fc1(s))))

    def gate_vec(self, s: Tensor) -> Tensor:
        """Gates from one summary vector per row, (B, C) -> (B, C)."""
        h = F.silu(F.linear(s, self.fc1.weight[:, :, 0], self.fc1.bias))
        return torch.sigmoid(F.linear(h, self.fc2.weight[:, :, 0], self.fc2.bias))


class TinyBlock1D(nn.Module):
    def __init__(self, ch: int, kernel: int, dilation: int, reduction: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.dilation = dilation
        self.conv = CausalDWConv1d(ch, kernel, dilation)
        self.se = SE1D(ch, reduction)

    def forward(self, x: Tensor, legacy: bool) -> tuple[Tensor, Tensor]:
        """(B, C, L) -> output (B, C, L) and the SE input summed over positions (B, C)."""
        y = self.conv(x, legacy)
        if legacy:
            s = y.mean(dim=-1, keepdim=True)
        else:
            count = torch.arange(1, y.shape[-1] + 1, device=y.device, dtype=y.dtype)
            s = y.cumsum(dim=-1) / count  # running mean over positions <= t
        return x + y * self.se.gate(s), y.sum(dim=-1)


def _np(t: Tensor) -> Array:
    """A float32, C-contiguous NumPy copy of a tensor."""
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


class QINetMNLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed = nn.Embedding(VOCAB_SIZE, d)
        self.qim = QIM1D(config.max_len)
        self.in_proj = nn.Linear(d, d, bias=False)
        self.blocks = nn.ModuleList(
            TinyBlock1D(d, config.kernel_size, dil, config.se_reduction) for dil in config.dilations)
        self._block_list = [b for b in self.blocks if isinstance(b, TinyBlock1D)]  # typed view
        self.norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, VOCAB_SIZE, bias=False)
        self.lm_head.weight = self.embed.weight  # tied
        self.lang_head = nn.Linear(d, config.n_langs)
        if config.boundary_head:
            self.boundary_head = nn.Linear(d, 2)
        self.apply(_init_weights)

    @property
    def legacy(self) -> bool:
        return self.config.semantics == "legacy"

    def forward(self, tokens: Tensor) -> dict[str, Tensor]:
        """tokens (B, L) in [0, 256] with [CLS] at 0 -> lm_logits (B, L, 257), lang_logits
        (B, n_langs) for the whole sequence, lang_logits_seq (B, L, n_langs) for each prefix
        (causal only), boundary_logits (B, L, 2)."""
        h, _ = self._features(tokens)
        return self._heads(h)

    def _features(self, tokens: Tensor) -> tuple[Tensor, list[Tensor]]:
        length = tokens.shape[1]
        if self.legacy and length > self.config.max_len:
            raise ValueError(f"legacy model takes at most {self.config.max_len} tokens, got {length}")
        mod = self.qim.legacy_modulation(length) if self.legacy else self.qim.modulation(length)
        x = self.in_proj(self.embed(tokens)) * mod[None, :, None]  # (B, L, d)
        x = x.transpose(1, 2)  # (B, d, L)
        se_sums = []
        for blk in self.blocks:
            x, se_sum = blk(x, self.legacy)
            se_sums.append(se_sum)
        return self.norm(x.transpose(1, 2)), se_sums  # (B, L, d)

    def _heads(self, h: Tensor) -> dict[str, Tensor]:
        out = {"lm_logits": self.lm_head(h)}
        if self.legacy:
            out["lang_logits"] = self.lang_head(h[:, 0, :])
        else:
            count = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype)[None, :, None]
            seq = self.lang_head(h.cumsum(dim=1) / count)  # (B, L, n_langs)
            out["lang_logits_seq"] = seq
            out["lang_logits"] = seq[:, -1, :]
            if self.config.temperatures:  # calibrated: see ModelConfig.temperatures
                temps = torch.tensor(self.config.temperatures, device=h.device, dtype=seq.dtype)
                out["lm_logits"] = out["lm_logits"] / (torch.softmax(seq, -1) @ temps)[..., None]
        if self.config.boundary_head:
            out["boundary_logits"] = self.boundary_head(h)
        return out

    # ---- inference: the NumPy runtime (causal) or this module (legacy) -------------------

    def numpy_state(self) -> dict[str, Array]:
        return {k: _np(v) for k, v in self.state_dict().items()}

    def runtime(self) -> Runtime:
        """A snapshot of this model for decoding (NumpyModel; legacy: through PyTorch)."""
        return LegacyRuntime(self) if self.legacy else NumpyModel(self.config, self.numpy_state())

    def step_weights(self) -> StepWeights:
        return step_weights(self.config, self.numpy_state())

    def prefill(self, tokens: Tensor, weights: StepWeights | None = None
                ) -> tuple[dict[str, Tensor], DecodeState]:
        """Run tokens (B, L) and return the outputs and the state after them (NumpyModel)."""
        self._require_causal()
        out, state = NumpyModel(self.config, self.numpy_state()).prefill(tokens.cpu().numpy())
        return {k: torch.from_numpy(v) for k, v in out.items()}, state

    def step(self, token: Tensor | Sequence[int], state: DecodeState) -> dict[str, Tensor]:
        """Consume one token per row, token (B,), updating `state` in place. Returns
        lm_logits (B, 257), lang_logits (B, n_langs), boundary_logits (B, 2). The work is
        done by stepper.step; the weights were captured at prefill."""
        self._require_causal()
        tokens = np.asarray(token.cpu() if isinstance(token, Tensor) else token, dtype=np.int64)
        return {k: torch.from_numpy(v) for k, v in stepper.step(tokens, state).items()}

    def _blocks(self) -> list[TinyBlock1D]:
        return self._block_list

    def _require_causal(self) -> None:
        if self.legacy:
            raise RuntimeError("legacy (whole-sequence) models cannot decode incrementally")


class LegacyRuntime:
    """A legacy (whole-sequence) model as a runtime: forward only, through PyTorch."""

    legacy = True

    def __init__(self, model: QINetMNLP) -> None:
        self.model = model
        self.config = model.config

    @torch.inference_mode()
    def forward(self, tokens: NDArray[np.int64]) -> dict[str, Array]:
        out = self.model(torch.as_tensor(np.asarray(tokens, dtype=np.int64)))
        return {k: _np(v) for k, v in out.items()}

    def prefill(self, tokens: NDArray[np.int64]) -> tuple[dict[str, Array], DecodeState]:
        raise RuntimeError("legacy (whole-sequence) models cannot decode incrementally")

    def step(self, tokens: NDArray[np.int64], state: DecodeState) -> dict[str, Array]:
        raise RuntimeError("legacy (whole-sequence) models cannot decode incrementally")

    def next_logits(self, tokens: NDArray[np.int64], state: DecodeState) -> Array:
        raise RuntimeError("legacy (whole-sequence) models cannot decode incrementally")


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Conv1d | nn.Linear):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
