"""Decoders: feed bytes, get next-byte logits, within the model's context window.

The window is ``[CLS]`` plus at most ``max_len - 1`` bytes, so every position the model sees
is one it was trained on. ``IncrementalDecoder`` advances with ``model.step()`` (O(1) per
byte); when the window is full it re-prefills ``[CLS]`` plus the last ``keep`` bytes (never
starting mid-character), so a long stream costs one parallel prefill every
``max_len - 1 - keep`` bytes. ``RecomputeDecoder`` runs the whole window for every byte: it
is what legacy checkpoints need, and the baseline the benchmark compares against.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from .model import CLS_ID, QINetMNLP
from .stepper import DecodeState
from .utf8 import char_safe_tail

REFILL_KEEP = 0.75  # fraction of the window kept when an overflowing window is re-prefilled
BULK_FEED = 48  # feeding more bytes than this at once re-prefills instead of stepping


class Decoder(Protocol):
    model: QINetMNLP

    @property
    def context(self) -> bytes: ...

    def reset(self, context: bytes) -> Tensor: ...

    def push(self, byte: int) -> Tensor: ...

    def feed(self, data: bytes) -> Tensor: ...

    def next_logits(self) -> Tensor: ...

    def lang_logits(self) -> Tensor: ...

    def fork(self) -> Decoder: ...


def max_context_bytes(model: QINetMNLP) -> int:
    return model.config.max_len - 1


def _tokens(context: bytes | bytearray) -> Tensor:
    return torch.tensor([[CLS_ID, *context]], dtype=torch.long)  # (1, L)


class IncrementalDecoder:
    """Cached decoding with ``step()``; ``context`` is what the window holds now."""

    def __init__(self, model: QINetMNLP, keep: int | None = None) -> None:
        self.model = model
        limit = max_context_bytes(model)
        self.keep = min(limit - 1, keep if keep is not None else int(limit * REFILL_KEEP))
        self._bytes = bytearray()
        self._state: DecodeState | None = None
        self._logits = torch.zeros(0)
        self._lang = torch.zeros(0)
        self.prefills = 0  # how many parallel prefills ran (for tests and benchmarks)

    @property
    def context(self) -> bytes:
        return bytes(self._bytes)

    @torch.inference_mode()
    def reset(self, context: bytes) -> Tensor:
        self._bytes = bytearray(char_safe_tail(context, max_context_bytes(self.model)))
        out, self._state = self.model.prefill(_tokens(self._bytes))
        self.prefills += 1
        self._logits = out["lm_logits"][0, -1]
        self._lang = out["lang_logits"][0]
        return self._logits

    @torch.inference_mode()
    def push(self, byte: int) -> Tensor:
        if self._state is None:
            self.reset(b"")
        if len(self._bytes) >= max_context_bytes(self.model):
            return self.reset(char_safe_tail(bytes(self._bytes) + bytes([byte]), self.keep))
        assert self._state is not None
        out = self.model.step(torch.tensor([byte]), self._state)
        self._bytes.append(byte)
        self._logits = out["lm_logits"][0]
        self._lang = out["lang_logits"][0]
        return self._logits

    def feed(self, data: bytes) -> Tensor:
        if self._state is None or len(data) > BULK_FEED:
            return self.reset(bytes(self._bytes) + data)
        for byte in data:
            self.push(byte)
        return self._logits

    def next_logits(self) -> Tensor:
        return self._logits if self._state is not None else self.reset(b"")

    def lang_logits(self) -> Tensor:
        return self._lang

    def fork(self) -> IncrementalDecoder:
        twin = IncrementalDecoder(self.model, self.keep)
        twin._bytes = bytearray(self._bytes)
        twin._state = self._state.clone() if self._state is not None else None
        twin._logits, twin._lang = self._logits, self._lang
        return twin


class RecomputeDecoder:
    """Full forward over the window for every byte (the original's way; legacy models)."""

    def __init__(self, model: QINetMNLP) -> None:
        self.model = model
        self._bytes = bytearray()
        self._logits: Tensor | None = None
        self._lang = torch.zeros(0)

    @property
    def context(self) -> bytes:
        return bytes(self._bytes)

    @torch.inference_mode()
    def _run(self) -> Tensor:
        self._bytes = bytearray(char_safe_tail(bytes(self._bytes), max_context_bytes(self.model)))
        out = self.model(_tokens(self._bytes))
        self._lang = out["lang_logits"][0]
        self._logits = out["lm_logits"][0, -1]
        return self._logits

    def reset(self, context: bytes) -> Tensor:
        self._bytes = bytearray(context)
        return self._run()

    def push(self, byte: int) -> Tensor:
        self._bytes.append(byte)
        return self._run()

    def feed(self, data: bytes) -> Tensor:
        self._bytes.extend(data)
        return self._run()

    def next_logits(self) -> Tensor:
        return self._logits if self._logits is not None else self._run()

    def lang_logits(self) -> Tensor:
        return self._lang

    def fork(self) -> RecomputeDecoder:
        twin = RecomputeDecoder(self.model)
        twin._bytes = bytearray(self._bytes)
        twin._logits, twin._lang = self._logits, self._lang
        return twin


def make_decoder(model: QINetMNLP) -> Decoder:
    """The fastest decoder the model supports."""
    return RecomputeDecoder(model) if model.legacy else IncrementalDecoder(model)
