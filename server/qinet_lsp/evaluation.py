"""Strictly causal scoring: bits per byte with exactly the windows the decoder uses.

``IncrementalDecoder`` reads a stream in windows of at most ``max_len - 1`` bytes after
``[CLS]``; when a window is full it restarts from the last ``keep`` bytes. Scoring replays
that policy with one parallel forward per window, so each byte is predicted from the same
context the server would give it — and nothing after it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .decoding import IncrementalDecoder, make_decoder, max_context_bytes
from .model import CLS_ID, QINetMNLP
from .utf8 import char_safe_tail


@torch.inference_mode()
def byte_logprobs(model: QINetMNLP, data: bytes) -> Tensor:
    """log2 p(data[i] | what the decoder would hold before it), for every i."""
    if model.legacy:
        return _logprobs_by_decoder(model, data)
    limit = max_context_bytes(model)
    keep = IncrementalDecoder(model).keep
    out = torch.empty(len(data))
    start, first = 0, 0  # window start; first byte this window still has to score
    while first < len(data):
        window = data[start:start + limit]
        logits = model(torch.tensor([[CLS_ID, *window]]))["lm_logits"][0]  # (len+1, 257)
        last = min(len(data), start + limit + 1)  # position p predicts data[start + p]
        targets = torch.tensor(list(data[first:last]))
        logp = torch.log_softmax(logits[first - start:last - start].float(), dim=-1)
        out[first:last] = logp.gather(1, targets[:, None])[:, 0] / math.log(2)
        start = last - len(char_safe_tail(data[start:last], keep))
        first = last
    return out


def _logprobs_by_decoder(model: QINetMNLP, data: bytes) -> Tensor:
    decoder = make_decoder(model)
    logits = decoder.reset(b"")
    out = torch.empty(len(data))
    for i, byte in enumerate(data):
        out[i] = torch.log_softmax(logits.float(), dim=-1)[byte] / math.log(2)
        logits = decoder.push(byte)
    return out


def bits_per_byte(model: QINetMNLP, data: bytes) -> float:
    return float(-byte_logprobs(model, data).mean()) if data else float("nan")
