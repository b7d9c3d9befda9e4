"""Decoders: feed bytes, get next-byte logits, within the model's context window.

The window is ``[CLS]`` plus at most ``config.window_bytes`` bytes (``max_len - 1`` unless the
checkpoint says fewer), so every position the model sees is one it was trained on.
``IncrementalDecoder`` advances with ``model.step()`` (O(1) per byte); when the window is full
it re-prefills ``[CLS]`` plus the last ``keep`` bytes (``config.refill_keep``; never starting
mid-character), so a long stream costs one parallel prefill every ``window_bytes - keep``
bytes. ``RecomputeDecoder`` runs the whole window for every byte: it is what legacy
checkpoints need, and the baseline the benchmark compares against.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .config import CLS_ID
from .runtime import Runtime, as_runtime
from .stepper import Array, DecodeState, lang_logits, put_row
from .utf8 import char_safe_tail

BULK_FEED = 48  # feeding more bytes than this at once re-prefills instead of stepping


class Decoder(Protocol):
    model: Runtime

    @property
    def context(self) -> bytes: ...

    def reset(self, context: bytes) -> Array: ...

    def push(self, byte: int) -> Array: ...

    def feed(self, data: bytes) -> Array: ...

    def next_logits(self) -> Array: ...

    def lang_logits(self) -> Array: ...

    def fork(self) -> Decoder: ...


def max_context_bytes(model: Any) -> int:
    """The most bytes a window holds after [CLS] (model: a Runtime or a PyTorch model)."""
    return int(model.config.window_bytes)


def _tokens(context: bytes | bytearray) -> np.ndarray:
    out = np.empty((1, len(context) + 1), dtype=np.int64)  # (1, L)
    out[0, 0] = CLS_ID
    out[0, 1:] = np.frombuffer(bytes(context), dtype=np.uint8)
    return out


class IncrementalDecoder:
    """Cached decoding with ``step()``; ``context`` is what the window holds now."""

    def __init__(self, model: Any, keep: int | None = None) -> None:
        self.model = as_runtime(model)
        limit = max_context_bytes(model)
        self.keep = min(limit - 1, keep if keep is not None else int(model.config.refill_keep))
        self._bytes = bytearray()
        self._state: DecodeState | None = None
        self._logits: Array = np.zeros(0, dtype=np.float32)
        self._lang: Array | None = None  # None: compute from the state when asked
        self._token = np.zeros(1, dtype=np.int64)
        self._limit = limit
        self.prefills = 0  # how many parallel prefills ran (for tests and benchmarks)

    @property
    def context(self) -> bytes:
        return bytes(self._bytes)

    def reset(self, context: bytes) -> Array:
        self._bytes = bytearray(char_safe_tail(context, max_context_bytes(self.model)))
        out, self._state = self.model.prefill(_tokens(self._bytes))
        self.prefills += 1
        self._logits = out["lm_logits"][0, -1]
        self._lang = out["lang_logits"][0]
        return self._logits

    def push(self, byte: int) -> Array:
        if self._state is None:
            self.reset(b"")
        if len(self._bytes) >= self._limit:
            return self.reset(char_safe_tail(bytes(self._bytes) + bytes([byte]), self.keep))
        assert self._state is not None
        self._token[0] = byte
        self._logits = self.model.next_logits(self._token, self._state)[0]
        self._bytes.append(byte)
        self._lang = None
        return self._logits

    def feed(self, data: bytes) -> Array:
        if self._state is None or len(data) > BULK_FEED:
            return self.reset(bytes(self._bytes) + data)
        for byte in data:
            self.push(byte)
        return self._logits

    def next_logits(self) -> Array:
        return self._logits if self._state is not None else self.reset(b"")

    def lang_logits(self) -> Array:
        if self._lang is None:
            if self._state is None:
                self.reset(b"")
            assert self._state is not None
            self._lang = lang_logits(self._state)[0]
        assert self._lang is not None
        return self._lang

    def fork(self) -> IncrementalDecoder:
        twin = IncrementalDecoder(self.model, self.keep)
        twin._bytes = bytearray(self._bytes)
        twin._state = self._state.clone() if self._state is not None else None
        twin._logits, twin._lang = self._logits, self._lang
        return twin


class BatchDecoder:
    """`n` rows continuing one IncrementalDecoder's context together (candidates sampled as
    one batch): each push() is one step() for all rows, which reads the weights once. A row
    whose window is full is re-prefilled alone, like IncrementalDecoder.push()."""

    def __init__(self, base: IncrementalDecoder, n: int) -> None:
        base.next_logits()
        assert base._state is not None
        self.model, self.keep = base.model, base.keep
        self.contexts = [bytearray(base.context) for _ in range(n)]
        self.state = base._state.select([0] * n)
        self.logits: Array = np.repeat(base.next_logits()[None], n, axis=0)  # (rows, 257)
        self.prefills = 0

    def keep_rows(self, rows: list[int]) -> None:
        self.state = self.state.select(rows)
        self.contexts = [self.contexts[r] for r in rows]
        self.logits = self.logits[rows]

    def push(self, data: list[int]) -> Array:
        """Feed one byte per row; returns the next logits, (rows, 257)."""
        limit = max_context_bytes(self.model)
        full = [r for r, ctx in enumerate(self.contexts) if len(ctx) >= limit]
        tokens = np.asarray(data, dtype=np.int64)
        if not full:
            self.logits = self.model.next_logits(tokens, self.state)
        else:
            rest = [r for r in range(len(data)) if r not in full]
            logits = self.logits.copy()
            if rest:
                sub = self.state.select(rest)
                logits[rest] = self.model.next_logits(tokens[rest], sub)
                for k, r in enumerate(rest):
                    put_row(self.state, r, sub.select([k]))
            for r in full:
                self.contexts[r] = bytearray(char_safe_tail(bytes(self.contexts[r]) + bytes([data[r]]),
                                                            self.keep))
                out, one = self.model.prefill(_tokens(self.contexts[r]))
                self.prefills += 1
                put_row(self.state, r, one)
                logits[r] = out["lm_logits"][0, -1]
            self.logits = logits
        for r, byte in enumerate(data):
            if r not in full:
                self.contexts[r].append(byte)
        return self.logits


class RecomputeDecoder:
    """Full forward over the window for every byte (the original's way; legacy models)."""

    def __init__(self, model: Any) -> None:
        self.model = as_runtime(model)
        self._bytes = bytearray()
        self._logits: Array | None = None
        self._lang: Array = np.zeros(0, dtype=np.float32)

    @property
    def context(self) -> bytes:
        return bytes(self._bytes)

    def _run(self) -> Array:
        self._bytes = bytearray(char_safe_tail(bytes(self._bytes), max_context_bytes(self.model)))
        out = self.model.forward(_tokens(self._bytes))
        self._lang = out["lang_logits"][0]
        self._logits = out["lm_logits"][0, -1]
        return self._logits

    def reset(self, context: bytes) -> Array:
        self._bytes = bytearray(context)
        return self._run()

    def push(self, byte: int) -> Array:
        self._bytes.append(byte)
        return self._run()

    def feed(self, data: bytes) -> Array:
        self._bytes.extend(data)
        return self._run()

    def next_logits(self) -> Array:
        return self._logits if self._logits is not None else self._run()

    def lang_logits(self) -> Array:
        return self._lang

    def fork(self) -> RecomputeDecoder:
        twin = RecomputeDecoder(self.model)
        twin._bytes = bytearray(self._bytes)
        twin._logits, twin._lang = self._logits, self._lang
        return twin


def make_decoder(model: Any) -> Decoder:
    """The fastest decoder the model (a Runtime or a PyTorch model) supports."""
    runtime = as_runtime(model)
    return RecomputeDecoder(runtime) if runtime.legacy else IncrementalDecoder(runtime)
