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

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics must be one of {SEMANTICS}, not {self.semantics!r}")
        if self.d_model < 1 or self.max_len < 2 or self.kernel_size < 1 or self.n_langs < 1:
            raise ValueError(f"invalid model size in {self}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be positive, got {self.dilations}")

    @property
    def receptive_field(self) -> int:
        """How many positions the conv stack sees (SE and the language head see all)."""
        return 1 + (self.kernel_size - 1) * sum(self.dilations)

    @property
    def legacy(self) -> bool:
        return self.semantics == "legacy"
