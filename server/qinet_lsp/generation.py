"""Text generation: context -> [CLS] + bytes -> sampled bytes -> whole characters -> stop rules.

``Generation`` is a streaming iterator: it yields text as soon as no stop rule can take it
back, checks ``cancelled()`` between bytes, and records why it stopped. The byte budget
(``max_new_bytes``) never cuts a character in half: a character in progress is finished.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .decoding import BatchDecoder, Decoder, IncrementalDecoder, make_decoder, max_context_bytes
from .sampling import SamplingConfig, allowed_mask, rng_for, sample_next
from .stepper import Array
from .stopping import StopRules
from .utf8 import Utf8Decoder, char_safe_tail


@dataclass(frozen=True)
class GenerationConfig:
    max_new_bytes: int = 64
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    stop: StopRules = field(default_factory=StopRules)
    seed: int | None = None  # None: a fresh random seed per request (recorded on the result)

    def __post_init__(self) -> None:
        if self.max_new_bytes < 0:
            raise ValueError(f"max_new_bytes must be >= 0, got {self.max_new_bytes}")


def encode_context(text: str, max_bytes: int) -> bytes:
    """The UTF-8 bytes of the last `max_bytes` bytes of text, never starting mid-character."""
    return char_safe_tail(text.encode("utf-8", errors="replace"), max_bytes)


class _Text:
    """One sequence's sampling state: its RNG, UTF-8 assembly, stop rules and text."""

    def __init__(self, cfg: GenerationConfig) -> None:
        self.cfg = cfg
        self.seed = cfg.seed if cfg.seed is not None else secrets.randbits(62)
        self.rng = rng_for(self.seed)
        self.utf8 = Utf8Decoder()
        self.text = ""
        self.stop_reason = ""
        self.n_bytes = 0
        self.emitted = 0

    def budget_spent(self) -> bool:
        """The byte budget is used up (a character in progress is still finished)."""
        if self.n_bytes >= self.cfg.max_new_bytes and not self.utf8.pending:
            self.stop_reason = "max_bytes"
        return bool(self.stop_reason)

    def take(self, logits: Array) -> int:
        """Sample the next byte from `logits` and add it; sets stop_reason when done."""
        byte = sample_next(logits, allowed_mask(self.utf8.pending), self.cfg.sampling, self.rng)
        self.n_bytes += 1
        if char := self.utf8.feed(byte):
            self.text += char
            if (cut := self.cfg.stop.cut(self.text)) is not None:
                self.text, self.stop_reason = self.text[:cut[0]], cut[1]
        return byte

    def piece(self) -> str:
        """New text that no stop rule can take back any more ('' if none)."""
        safe = len(self.text) if self.stop_reason else self.cfg.stop.safe(self.text)
        if safe <= self.emitted:
            return ""
        out, self.emitted = self.text[self.emitted:safe], safe
        return out


class Generation:
    """Iterate to receive final text pieces; afterwards ``text``/``stop_reason`` describe it."""

    def __init__(self, decoder: Decoder, cfg: GenerationConfig,
                 cancelled: Callable[[], bool] | None = None) -> None:
        self.decoder = decoder
        self.cfg = cfg
        self._text = _Text(cfg)
        self.seed = self._text.seed
        self.cancelled = cancelled or (lambda: False)
        self._iter = self._run()

    @property
    def text(self) -> str:
        return self._text.text

    @property
    def stop_reason(self) -> str:
        return self._text.stop_reason

    @property
    def n_bytes(self) -> int:
        return self._text.n_bytes

    def __iter__(self) -> Iterator[str]:
        return self._iter

    def run(self) -> str:
        """Generate to the end and return the text."""
        for _ in self._iter:
            pass
        return self.text

    def _run(self) -> Iterator[str]:
        out, last = self._text, -1
        logits = self.decoder.next_logits()
        while True:
            if self.cancelled():
                out.stop_reason = "cancelled"
                break
            if out.budget_spent():
                break
            if last >= 0:  # feed the previous byte only now: no wasted step when we stop
                logits = self.decoder.push(last)
            last = out.take(logits)
            if out.stop_reason:
                break
            if piece := out.piece():
                yield piece
        if piece := out.piece():
            yield piece


@dataclass(frozen=True)
class Candidate:
    text: str
    stop_reason: str
    seed: int


def generate_candidates(decoder: Decoder, cfgs: Sequence[GenerationConfig],
                        cancelled: Callable[[], bool] | None = None) -> list[Candidate]:
    """One continuation per config, all sampled together as rows of one batch (the same
    texts as running a Generation per config on a fork of `decoder`). `decoder` is unchanged."""
    cancelled = cancelled or (lambda: False)
    if not isinstance(decoder, IncrementalDecoder) or len(cfgs) < 2:
        gens = [Generation(decoder.fork(), cfg, cancelled) for cfg in cfgs]
        for g in gens:
            g.run()
        return [Candidate(g.text, g.stop_reason, g.seed) for g in gens]
    texts = [_Text(cfg) for cfg in cfgs]
    batch = BatchDecoder(decoder.fork(), len(cfgs))
    rows = list(range(len(cfgs)))  # the candidate in each batch row
    pending: list[int] = []  # the byte each row feeds before its next draw
    while rows:
        if cancelled():
            for i in rows:
                texts[i].stop_reason = "cancelled"
            break
        live = [k for k, i in enumerate(rows) if not texts[i].budget_spent()]
        if len(live) < len(rows):
            batch.keep_rows(live)
            rows = [rows[k] for k in live]
            pending = [pending[k] for k in live] if pending else []
            if not rows:
                break
        logits = batch.push(pending) if pending else batch.logits
        pending = [texts[i].take(logits[k]) for k, i in enumerate(rows)]
        live = [k for k, i in enumerate(rows) if not texts[i].stop_reason]
        if len(live) < len(rows):
            batch.keep_rows(live)
            rows = [rows[k] for k in live]
            pending = [pending[k] for k in live]
    return [Candidate(t.text, t.stop_reason, t.seed) for t in texts]


def start(model: Any, prompt: str, cfg: GenerationConfig, context_bytes: int | None = None,
          cancelled: Callable[[], bool] | None = None) -> Generation:
    """A Generation continuing `prompt` (its last `context_bytes` bytes, at most the window)."""
    limit = max_context_bytes(model)
    decoder = make_decoder(model)
    decoder.reset(encode_context(prompt, min(limit, context_bytes or limit)))
    return Generation(decoder, cfg, cancelled)


def generate(model: Any, prompt: str, cfg: GenerationConfig) -> str:
    return start(model, prompt, cfg).run()
