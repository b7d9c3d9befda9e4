"""Parallel window scoring equals scoring byte by byte through the real decoder."""

from __future__ import annotations

import math

import torch

from qinet_lsp.evaluation import _logprobs_by_decoder, bits_per_byte, byte_logprobs

from .conftest import tiny_model


def test_parallel_scoring_matches_the_incremental_decoder_over_many_windows() -> None:
    model = tiny_model(1)  # window 31 bytes: this text spans many re-prefills
    data = "Mũndũ nĩ mwega 🙂 na nĩ mũthingu; the end.\n".encode() * 4
    fast, slow = byte_logprobs(model, data), _logprobs_by_decoder(model, data)
    torch.testing.assert_close(fast, slow, atol=1e-3, rtol=0)


def test_bits_per_byte_of_an_untrained_model_is_near_uniform() -> None:
    bpb = bits_per_byte(tiny_model(2), b"hello world " * 20)
    assert 5.0 < bpb < 14.0
    assert math.isnan(bits_per_byte(tiny_model(2), b""))
