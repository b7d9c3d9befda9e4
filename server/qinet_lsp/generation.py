"""Text generation: context -> [CLS] + bytes -> sampled bytes -> whole characters -> stop rules.

``Generation`` is a streaming iterator: it yields text as soon as no stop rule can take it
back, checks ``cancelled()`` between bytes, and records why it stopped. The byte budget
(``max_new_bytes``) never cuts a character in half: a character in progress is finished.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from .decoding import Decoder, make_decoder, max_context_bytes
from .model import QINetMNLP
from .sampling import SamplingConfig, allowed_mask, sample_next
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


class Generation:
    """Iterate to receive final text pieces; afterwards ``text``/``stop_reason`` describe it."""

    def __init__(self, decoder: Decoder, cfg: GenerationConfig,
                 cancelled: Callable[[], bool] | None = None) -> None:
        self.decoder = decoder
        self.cfg = cfg
        self.seed = cfg.seed if cfg.seed is not None else secrets.randbits(62)
        self.cancelled = cancelled or (lambda: False)
        self.text = ""
        self.stop_reason = ""
        self.n_bytes = 0
        self._iter = self._run()

    def __iter__(self) -> Iterator[str]:
        return self._iter

    def run(self) -> str:
        """Generate to the end and return the text."""
        for _ in self._iter:
            pass
        return self.text

    def _run(self) -> Iterator[str]:
        rng = torch.Generator().manual_seed(self.seed)
        utf8, rules = Utf8Decoder(), self.cfg.stop
        logits = self.decoder.next_logits()
        text, emitted, last = "", 0, -1
        while True:
            if self.cancelled():
                self.stop_reason = "cancelled"
                break
            if self.n_bytes >= self.cfg.max_new_bytes and not utf8.pending:
                self.stop_reason = "max_bytes"
                break
            if last >= 0:  # feed the previous byte only now: no wasted step when we stop
                logits = self.decoder.push(last)
            last = sample_next(logits, allowed_mask(utf8.pending), self.cfg.sampling, rng)
            self.n_bytes += 1
            char = utf8.feed(last)
            if not char:
                continue
            text += char
            if (cut := rules.cut(text)) is not None:
                text, self.stop_reason = text[:cut[0]], cut[1]
                break
            if (safe := rules.safe(text)) > emitted:
                yield text[emitted:safe]
                emitted = safe
        self.text = text
        if len(text) > emitted:
            yield text[emitted:]


def start(model: QINetMNLP, prompt: str, cfg: GenerationConfig, context_bytes: int | None = None,
          cancelled: Callable[[], bool] | None = None) -> Generation:
    """A Generation continuing `prompt` (its last `context_bytes` bytes, at most the window)."""
    limit = max_context_bytes(model)
    decoder = make_decoder(model)
    decoder.reset(encode_context(prompt, min(limit, context_bytes or limit)))
    return Generation(decoder, cfg, cancelled)


def generate(model: QINetMNLP, prompt: str, cfg: GenerationConfig) -> str:
    return start(model, prompt, cfg).run()
