"""Strictly causal scoring: bits per byte with exactly the windows the decoder uses.

``IncrementalDecoder`` reads a stream in windows of at most ``config.window_bytes`` bytes after
``[CLS]``; when a window is full it restarts from the last ``config.refill_keep`` bytes. Scoring replays
that policy with one parallel forward per window, so each byte is predicted from the same
context the server would give it — and nothing after it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from .decoding import IncrementalDecoder, make_decoder, max_context_bytes
from .model import CLS_ID, QINetMNLP
from .utf8 import char_safe_tail

log = logging.getLogger(__name__)


def scored_windows(model: QINetMNLP, data: bytes) -> Iterator[tuple[int, int, dict[str, Tensor]]]:
    """The decoder's windows over `data` (causal models): (first, last, outputs) where row p of
    each output (lm_logits, lang_logits_seq, ...) is what predicts data[first + p], p < last - first."""
    limit = max_context_bytes(model)
    keep = IncrementalDecoder(model).keep
    start, first = 0, 0  # window start; first byte this window still has to score
    while first < len(data):
        window = data[start:start + limit]
        out = model(torch.tensor([[CLS_ID, *window]]))
        last = min(len(data), start + limit + 1)  # position p predicts data[start + p]
        yield first, last, {k: v[0, first - start:last - start] for k, v in out.items() if v.dim() == 3}
        start = last - len(char_safe_tail(data[start:last], keep))
        first = last


@torch.inference_mode()
def byte_logprobs(model: QINetMNLP, data: bytes) -> Tensor:
    """log2 p(data[i] | what the decoder would hold before it), for every i."""
    if model.legacy:
        return _logprobs_by_decoder(model, data)
    out = torch.empty(len(data))
    for first, last, window in scored_windows(model, data):
        targets = torch.tensor(list(data[first:last]))
        logp = torch.log_softmax(window["lm_logits"].float(), dim=-1)
        out[first:last] = logp.gather(1, targets[:, None])[:, 0] / math.log(2)
    return out


def _logprobs_by_decoder(model: QINetMNLP, data: bytes) -> Tensor:
    decoder = make_decoder(model)
    logits = decoder.reset(b"")
    out = torch.empty(len(data))
    for i, byte in enumerate(data):
        z = logits.astype(np.float64)
        z = z - z.max()
        out[i] = (z[byte] - math.log(np.exp(z).sum())) / math.log(2)
        logits = decoder.push(byte)
    return out


def bits_per_byte(model: QINetMNLP, data: bytes) -> float:
    return float(-byte_logprobs(model, data).mean()) if data else float("nan")


def window_candidates(max_len: int) -> list[tuple[int, int]]:
    """(context_bytes, refill_bytes) pairs worth measuring: the full window and 3/4 and 1/2 of
    it, each refilled from 1/4, 1/2 or 3/4 of itself."""
    full = max_len - 1
    limits = sorted({full, max(2, full * 3 // 4), max(2, full // 2)}, reverse=True)
    return [(limit, keep) for limit in limits
            for keep in sorted({max(1, limit // 4), max(1, limit // 2), max(1, limit * 3 // 4)})]


def tune_window(model: QINetMNLP, texts: list[bytes],
                candidates: list[tuple[int, int]] | None = None) -> list[dict[str, float]]:
    """Bits per byte over `texts` (byte-weighted) for each decoding window, best first. The
    model's config is restored afterwards; apply the winner with with_window()."""
    if model.legacy:
        raise ValueError("a legacy (whole-sequence) model reads its full window; nothing to tune")
    original, total = model.config, sum(len(t) for t in texts)
    results = []
    try:
        for limit, keep in candidates or window_candidates(original.max_len):
            with_window(model, limit, keep)
            bits = sum(float(-byte_logprobs(model, t).sum()) for t in texts if t)
            results.append({"context_bytes": limit, "refill_bytes": keep,
                            "bits_per_byte": bits / total if total else float("nan")})
            log.info("windows of %d bytes refilled from %d: %.4f bits/byte", limit, keep,
                     results[-1]["bits_per_byte"])
    finally:
        model.config = original
    return sorted(results, key=lambda r: r["bits_per_byte"])


def choose_window(results: list[dict[str, float]], tolerance: float = 0.002) -> dict[str, float]:
    """Of the windows within `tolerance` bits/byte of the best (below what separates runs), the
    one that re-prefills least per byte decoded (refill_bytes / (context_bytes - refill_bytes))."""
    best = min(r["bits_per_byte"] for r in results)
    near = [r for r in results if r["bits_per_byte"] <= best + tolerance]
    return min(near, key=lambda r: (r["refill_bytes"] / (r["context_bytes"] - r["refill_bytes"]),
                                    r["bits_per_byte"]))


def with_window(model: QINetMNLP, context_bytes: int, refill_bytes: int) -> QINetMNLP:
    """`model` reading windows of `context_bytes` refilled from `refill_bytes` (in place)."""
    model.config = replace(model.config, context_bytes=context_bytes, refill_bytes=refill_bytes)
    return model


@torch.inference_mode()
def language_accuracy(model: QINetMNLP, data: bytes, label: int, lengths: tuple[int, ...] = (16, 64, 256),
                      n_windows: int = 64, seed: int = 0) -> dict[int, float]:
    """Share of random windows of each length whose language head (after the last byte)
    names `label`. Windows start on character boundaries; a file shorter than a length is
    scored on what it has."""
    rng = torch.Generator().manual_seed(seed)
    result = {}
    for length in lengths:
        rows, ends = [], []
        for _ in range(n_windows):
            start = int(torch.randint(max(1, len(data) - length), (1,), generator=rng))
            while start < len(data) and 0x80 <= data[start] <= 0xBF:
                start += 1
            window = data[start:start + length]
            rows.append([CLS_ID, *window] + [CLS_ID] * (length - len(window)))  # padding after
            ends.append(len(window))  # position of the window's last byte ([CLS] is at 0)
        out = model(torch.tensor(rows))
        if model.legacy:  # the original's head reads [CLS], i.e. the whole (padded) window
            guesses = out["lang_logits"].argmax(-1)
        else:  # the causal head right after the window's last byte
            guesses = out["lang_logits_seq"][torch.arange(len(rows)), torch.tensor(ends)].argmax(-1)
        result[length] = float((guesses == label).float().mean())
    return result


@torch.inference_mode()
def keystroke_savings(model: QINetMNLP, text: str, suggestion_chars: int = 32) -> dict[str, float]:
    """Simulate typing `text` with greedy ghost text: whenever the suggestion's first words
    match what comes next, accept them word by word (one keystroke per word); otherwise type
    one character. Returns keystrokes, characters and the share of keystrokes saved."""
    from .generation import Generation, GenerationConfig
    from .sampling import SamplingConfig
    from .stopping import StopAt, StopRules

    cfg = GenerationConfig(4 * suggestion_chars, SamplingConfig(0.0, 0, 1.0),
                           StopRules(StopAt.LINE, max_chars=suggestion_chars), seed=0)
    decoder = make_decoder(model)
    decoder.reset(b"")
    pos, keys = 0, 0
    while pos < len(text):
        suggestion = Generation(decoder.fork(), cfg).run()
        accepted = _matching_words(suggestion, text[pos:])
        step = "".join(accepted) if accepted else text[pos]
        keys += len(accepted) if accepted else 1
        decoder.feed(step.encode("utf-8"))
        pos += len(step)
    return {"characters": len(text), "keystrokes": keys,
            "saved": 1 - keys / len(text) if text else 0.0}


def _matching_words(suggestion: str, upcoming: str) -> list[str]:
    """The leading word chunks (a word with the spaces/punctuation before it) of the
    suggestion that the upcoming text repeats exactly."""
    import re

    chunks = re.findall(r"\W*\w+", suggestion)
    accepted, offset = [], 0
    for chunk in chunks:
        if not upcoming.startswith(chunk, offset):
            break
        end = offset + len(chunk)
        if end < len(upcoming) and upcoming[end].isalnum():
            break  # the text's word is longer: accepting would stop mid-word (still fine, but
            # a user accepts a word only when it is the whole word)
        accepted.append(chunk)
        offset = end
    return accepted
