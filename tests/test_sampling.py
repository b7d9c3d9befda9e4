"""Property tests for each sampling rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinet_lsp.model import CLS_ID, VOCAB_SIZE
from qinet_lsp.sampling import (
    SamplingConfig,
    allowed_mask,
    apply_top_k,
    apply_top_p,
    compiled_sampler,
    filter_logits,
    rng_for,
    sample_next,
    sample_numpy,
)

seeds = st.integers(0, 2**31 - 1)


def _logits(seed: int, scale: float = 3.0) -> np.ndarray:
    return (rng_for(seed).standard_normal(VOCAB_SIZE) * scale).astype(np.float32)


@given(seeds, st.floats(0.0, 3.0), st.integers(0, 300), st.floats(0.01, 1.0))
@settings(max_examples=150, deadline=None)
def test_cls_is_never_sampled_even_when_it_dominates(seed: int, temp: float, k: int, p: float) -> None:
    logits = _logits(seed)
    logits[CLS_ID] = 1e4
    cfg = SamplingConfig(temperature=temp, top_k=k, top_p=p)
    tok = sample_next(logits, allowed_mask(b""), cfg, rng_for(seed))
    assert tok != CLS_ID


@given(seeds, st.sampled_from([b"", b"\xc3", b"\xe0", b"\xed", b"\xf0", b"\xf4", b"\xe2\x82"]))
@settings(max_examples=100, deadline=None)
def test_sampled_byte_keeps_the_output_valid_utf8(seed: int, pending: bytes) -> None:
    tok = sample_next(_logits(seed), allowed_mask(pending), SamplingConfig(1.5, 0, 1.0),
                      rng_for(seed))
    assert bool(allowed_mask(pending)[tok])


@given(seeds)
def test_temperature_zero_is_greedy_over_allowed_bytes(seed: int) -> None:
    logits = _logits(seed)
    mask = allowed_mask(b"")
    expected = int(np.argmax(np.where(mask, logits, -np.inf)))
    assert sample_next(logits, mask, SamplingConfig(0.0, 0, 1.0), None) == expected


@given(seeds, st.integers(1, 256))
def test_top_k_keeps_exactly_the_k_largest(seed: int, k: int) -> None:
    logits = _logits(seed)
    kept = np.isfinite(apply_top_k(logits, k))
    assert int(kept.sum()) == k  # random floats: no ties
    assert logits[kept].min() >= logits[~kept].max() if k < VOCAB_SIZE else True


@given(seeds, st.floats(0.0001, 0.9999), st.floats(0.1, 5.0))
@settings(max_examples=200)
def test_top_p_keeps_the_smallest_set_exceeding_p_and_never_empty(seed: int, p: float,
                                                                  scale: float) -> None:
    logits = _logits(seed, scale)
    kept = np.isfinite(apply_top_p(logits, p))
    e = np.exp(logits.astype(np.float64) - logits.max())
    probs = e / e.sum()
    assert kept.any()
    assert kept[np.argmax(logits)]
    mass = probs[kept].sum()
    smallest_kept = probs[kept].min()
    assert mass > p - 1e-6  # the kept set exceeds p ...
    assert mass - smallest_kept <= p + 1e-6  # ... and without its least likely member it does not
    assert probs[~kept].max() <= smallest_kept + 1e-12 if (~kept).any() else True


def test_top_p_one_and_top_k_zero_are_off() -> None:
    logits = _logits(0)
    assert np.array_equal(apply_top_p(logits, 1.0), logits)
    assert np.array_equal(apply_top_k(logits, 0), logits)


@given(seeds, st.floats(0.1, 2.0), st.integers(0, 50), st.floats(0.1, 1.0))
@settings(deadline=None)
def test_same_seed_same_byte(seed: int, temp: float, k: int, p: float) -> None:
    logits, cfg, mask = _logits(seed), SamplingConfig(temp, k, p), allowed_mask(b"")
    draws = [sample_next(logits, mask, cfg, rng_for(seed)) for _ in range(2)]
    assert draws[0] == draws[1]


def test_sampling_follows_the_distribution() -> None:
    logits = np.full(VOCAB_SIZE, -30.0, dtype=np.float32)
    logits[ord("a")], logits[ord("b")] = 0.0, np.log(3.0)
    g = rng_for(0)
    draws = [sample_next(logits, allowed_mask(b""), SamplingConfig(1.0, 0, 1.0), g) for _ in range(2000)]
    share_b = draws.count(ord("b")) / len(draws)
    assert 0.70 < share_b < 0.80  # expected 0.75


@given(seeds, st.floats(0.05, 3.0), st.integers(0, 300), st.floats(0.01, 1.0),
       st.sampled_from([b"", b"\xc3", b"\xe2\x82", b"\xf0"]))
@settings(max_examples=200, deadline=None)
def test_one_pass_sampler_draws_only_what_the_separate_rules_keep(
        seed: int, temp: float, k: int, p: float, pending: bytes) -> None:
    logits, cfg, mask = _logits(seed), SamplingConfig(temp, k, p), allowed_mask(pending)
    kept = np.isfinite(filter_logits(logits, mask, cfg))
    rng = rng_for(seed)
    for _ in range(20):
        assert kept[sample_next(logits, mask, cfg, rng)]


@given(seeds, st.integers(1, 5))
@settings(deadline=None)
def test_one_pass_sampler_matches_the_filtered_distribution(seed: int, k: int) -> None:
    logits, cfg, mask = _logits(seed, 1.0), SamplingConfig(1.0, k, 0.9), allowed_mask(b"")
    f = filter_logits(logits, mask, cfg)
    e = np.exp(f - f.max())
    expected = e / e.sum()
    rng = rng_for(seed)
    draws = np.bincount([sample_next(logits, mask, cfg, rng) for _ in range(3000)], minlength=VOCAB_SIZE)
    assert np.abs(draws / 3000 - expected).max() < 0.04


@given(seeds, st.floats(0.05, 3.0), st.integers(0, 300), st.floats(0.01, 1.0),
       st.sampled_from([b"", b"\xc3", b"\xe2\x82", b"\xf0"]), st.floats(0.0, 0.999999))
@settings(max_examples=300, deadline=None)
def test_compiled_sampler_picks_the_same_byte_as_numpy(seed: int, temp: float, k: int, p: float,
                                                        pending: bytes, u: float) -> None:
    fast = compiled_sampler()
    if fast is None:
        pytest.skip("Numba is not installed")
    logits, cfg, mask = _logits(seed), SamplingConfig(temp, k, p), allowed_mask(pending)
    logits[seed % 7] = logits[seed % 11]  # ties, which a stable order must break the same way
    assert fast(logits, mask, temp, k, p, u) == sample_numpy(logits, mask, cfg, u)


@pytest.mark.parametrize("bad", [dict(temperature=-0.1), dict(top_k=-1), dict(top_p=0.0),
                                 dict(top_p=1.5), dict(temperature=float("nan"))])
def test_invalid_sampling_settings_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError):
        SamplingConfig(**bad)
