"""Parallel window scoring equals scoring byte by byte through the real decoder."""

from __future__ import annotations

import math

import torch

from qinet_lsp.decoding import IncrementalDecoder, max_context_bytes
from qinet_lsp.evaluation import (
    _logprobs_by_decoder,
    bits_per_byte,
    byte_logprobs,
    choose_window,
    tune_window,
    window_candidates,
    with_window,
)

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


def test_language_accuracy_on_a_model_trained_to_tell_two_languages(trained_checkpoint) -> None:  # noqa: ANN001
    from qinet_lsp.checkpoint import load_checkpoint
    from qinet_lsp.evaluation import language_accuracy

    from .conftest import TRAIN_TEXT_EN, TRAIN_TEXT_KI

    loaded = load_checkpoint(trained_checkpoint)
    en = language_accuracy(loaded.model, (TRAIN_TEXT_EN * 5).encode(), loaded.languages.index("english"),
                           lengths=(8, 32), n_windows=16)
    ki = language_accuracy(loaded.model, (TRAIN_TEXT_KI * 5).encode(), loaded.languages.index("kikuyu"),
                           lengths=(8, 32), n_windows=16)
    assert set(en) == {8, 32}
    assert en[32] >= 0.9 and ki[32] >= 0.9
    wrong = language_accuracy(loaded.model, (TRAIN_TEXT_KI * 5).encode(), loaded.languages.index("english"),
                              lengths=(32,), n_windows=16)
    assert wrong[32] <= 0.1


def test_keystroke_savings_count_accepted_words(trained_checkpoint) -> None:  # noqa: ANN001
    from qinet_lsp.checkpoint import load_checkpoint
    from qinet_lsp.evaluation import _matching_words, keystroke_savings

    assert _matching_words(" the cat sat", " the cat is") == [" the", " cat"]
    assert _matching_words(" the cat", " then") == []  # never stops mid-word
    model = load_checkpoint(trained_checkpoint).model
    result = keystroke_savings(model, "The cat sat on the mat. The dog sat on the log.")
    assert result["characters"] == 47
    assert 0 < result["keystrokes"] < 47 and result["saved"] > 0.2


def test_a_configured_window_is_what_scoring_and_the_decoder_use() -> None:
    """A checkpoint can say it reads best in shorter windows: scoring must replay exactly the
    windows the decoder then uses (context 20, refill from 8, not 31 and 23)."""
    model = with_window(tiny_model(1), 20, 8)
    decoder = IncrementalDecoder(model)
    assert (max_context_bytes(model), decoder.keep) == (20, 8)
    data = "Mũndũ nĩ mwega 🙂 na nĩ mũthingu; the end.\n".encode() * 3
    torch.testing.assert_close(byte_logprobs(model, data), _logprobs_by_decoder(model, data),
                               atol=1e-3, rtol=0)
    decoder.reset(b"")
    for byte in data:
        decoder.push(byte)
        assert len(decoder.context) <= 20
    assert not torch.allclose(byte_logprobs(tiny_model(1), data), byte_logprobs(model, data))


def test_tune_window_ranks_every_candidate_and_restores_the_model() -> None:
    model = tiny_model(3)
    data = ("the cat sat on the mat; " * 12).encode()
    results = tune_window(model, [data])
    assert [r["bits_per_byte"] for r in results] == sorted(r["bits_per_byte"] for r in results)
    assert {(r["context_bytes"], r["refill_bytes"]) for r in results} == set(window_candidates(32))
    assert (model.config.context_bytes, model.config.refill_bytes) == (0, 0)
    for r in results:
        scored = bits_per_byte(with_window(tiny_model(3), int(r["context_bytes"]),
                                           int(r["refill_bytes"])), data)
        assert abs(scored - r["bits_per_byte"]) < 1e-4


def test_choose_window_takes_the_cheapest_of_the_nearly_best() -> None:
    results = [{"context_bytes": 383, "refill_bytes": 287, "bits_per_byte": 2.1936},
               {"context_bytes": 383, "refill_bytes": 95, "bits_per_byte": 2.1945},
               {"context_bytes": 255, "refill_bytes": 63, "bits_per_byte": 2.1973},
               {"context_bytes": 511, "refill_bytes": 383, "bits_per_byte": 2.2106}]
    assert choose_window(results)["refill_bytes"] == 95
    assert choose_window(results, tolerance=0.0)["refill_bytes"] == 287
