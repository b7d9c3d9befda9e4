"""The model's shape and its token ids: plain data, shared by the PyTorch model (training)
and the NumPy runtime (serving), so neither needs the other."""

from __future__ import annotations

from dataclasses import dataclass

N_BYTES = 256
CLS_ID = 256  # the [CLS] token, prepended at position 0
VOCAB_SIZE = 257
SEMANTICS = ("causal", "legacy")


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 64
    max_len: int = 256  # L_max: the QIM1D grid and the longest trained window
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    kernel_size: int = 3
    n_langs: int = 3
    se_reduction: int = 8
    boundary_head: bool = True
    semantics: str = "causal"
    # How the model is read when decoding (not its shape; chosen by measurement with
    # `qinet-lsp tune-window`, evaluation.tune_window): a window holds [CLS] + at most `context_bytes` bytes
    # (0: max_len - 1); a full window restarts from its last `refill_bytes` (0: 3/4 of it).
    context_bytes: int = 0
    refill_bytes: int = 0
    # Calibration (`qinet-lsp calibrate`, calibration.py): one temperature per language id; the
    # next-byte logits are divided by their mixture under the causal language head, so a
    # language the model over-fitted (a 30 KB text seen a hundred times) is not over-confident.
    # () leaves the logits as trained.
    temperatures: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics must be one of {SEMANTICS}, not {self.semantics!r}")
        if self.d_model < 1 or self.max_len < 2 or self.kernel_size < 1 or self.n_langs < 1:
            raise ValueError(f"invalid model size in {self}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be positive, got {self.dilations}")
        if not 0 <= self.context_bytes <= self.max_len - 1:
            raise ValueError(f"context_bytes must be 0..{self.max_len - 1}, got {self.context_bytes}")
        if not 0 <= self.refill_bytes < self.window_bytes:
            raise ValueError(f"refill_bytes must be 0..{self.window_bytes - 1}, got {self.refill_bytes}")
        if self.temperatures and (len(self.temperatures) != self.n_langs or self.legacy or
                                  not all(0.05 <= t <= 20 for t in self.temperatures)):
            raise ValueError(f"temperatures must be () or {self.n_langs} values in 0.05..20 "
                             f"(causal models only), got {self.temperatures}")

    @property
    def window_bytes(self) -> int:
        """The most bytes a decoding window holds after [CLS]."""
        return self.context_bytes or self.max_len - 1

    @property
    def refill_keep(self) -> int:
        """Bytes kept when a full decoding window is re-prefilled."""
        return self.refill_bytes or min(self.window_bytes - 1, int(self.window_bytes * 0.75))

    @property
    def receptive_field(self) -> int:
        """How many positions the conv stack sees (SE and the language head see all)."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    @property
    def legacy(self) -> bool:
        return self.semantics == "legacy"
