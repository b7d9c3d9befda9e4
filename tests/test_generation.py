"""Generation end to end on tiny seeded models: UTF-8, seeds, stop rules, windows, streaming."""

from __future__ import annotations

import pytest
import torch

from qinet_lsp.decoding import IncrementalDecoder, RecomputeDecoder
from qinet_lsp.generation import Generation, GenerationConfig, encode_context, generate, start
from qinet_lsp.model import CLS_ID
from qinet_lsp.sampling import SamplingConfig
from qinet_lsp.stopping import StopAt, StopRules

from .conftest import tiny_model

HOT = SamplingConfig(temperature=1.5, top_k=0, top_p=1.0)  # wide sampling: many multi-byte draws


def _biased_model(seed: int = 0):  # noqa: ANN202
    """A random model pushed towards non-ASCII lead bytes, so generation crosses many
    multi-byte characters (where chr()-style decoding would break)."""
    model = tiny_model(seed)
    with torch.no_grad():
        model.embed.weight[0xC3] += 2.0
        model.embed.weight[0xE2] += 2.0
        model.embed.weight[0xF0] += 2.0
    return model


@pytest.mark.parametrize("prompt", ["Ngai nĩ mũndũ", "🙂🚀 emoji", "漢字とかな", ""])
def test_output_is_valid_utf8_for_multilingual_prompts(prompt: str) -> None:
    model = _biased_model()
    for seed in range(5):
        text = generate(model, prompt, GenerationConfig(max_new_bytes=120, sampling=HOT, seed=seed))
        data = text.encode("utf-8")
        assert data.decode("utf-8") == text
        assert "\x00" not in text and "\ufffd" not in text
        assert len(data) <= 120 + 3  # the budget, plus the rest of the last character


def test_non_ascii_characters_are_generated_whole() -> None:
    model = _biased_model()
    texts = [generate(model, "x", GenerationConfig(200, HOT, seed=s)) for s in range(5)]
    assert any(ord(c) > 127 for t in texts for c in t)


def test_same_seed_same_text_and_different_seeds_differ() -> None:
    model = tiny_model(1)
    cfg = GenerationConfig(max_new_bytes=60, sampling=HOT, seed=42)
    assert generate(model, "Ngai nĩ", cfg) == generate(model, "Ngai nĩ", cfg)
    others = {generate(model, "Ngai nĩ", GenerationConfig(60, HOT, seed=s)) for s in range(4)}
    assert len(others) > 1


def test_unseeded_requests_record_their_seed_for_replay() -> None:
    model = tiny_model(1)
    gen = start(model, "abc", GenerationConfig(40, HOT))
    text = gen.run()
    assert text == generate(model, "abc", GenerationConfig(40, HOT, seed=gen.seed))


def test_incremental_and_full_recompute_agree_within_the_window() -> None:
    model = tiny_model(2)  # max_len 32: prompt + output stay inside 31 bytes
    cfg = GenerationConfig(max_new_bytes=20, sampling=SamplingConfig(0.9, 0, 1.0), seed=5)
    fast, slow = IncrementalDecoder(model), RecomputeDecoder(model)
    fast.reset(b"hello"), slow.reset(b"hello")
    assert Generation(fast, cfg).run() == Generation(slow, cfg).run()


def test_language_logits_after_each_byte_match_the_full_forward() -> None:
    """The decoder computes the language head lazily; it must still describe every byte pushed."""
    model = tiny_model(4)
    decoder = IncrementalDecoder(model)
    decoder.reset(b"Ngai ")
    for byte in "n\u0129 mwega".encode():
        decoder.push(byte)
        x = torch.tensor([[CLS_ID, *decoder.context]])
        with torch.no_grad():
            expected = model(x)["lang_logits"][0].numpy()
        assert abs(decoder.lang_logits() - expected).max() <= 1e-4


def test_window_overflow_re_prefills_keeping_cls_and_a_char_safe_tail() -> None:
    model = tiny_model(3)
    dec = IncrementalDecoder(model)  # window: [CLS] + 31 bytes, keeps 23 on overflow
    dec.reset("ĩ".encode() * 15)  # 30 bytes
    assert dec.prefills == 1
    dec.push(ord("a"))  # 31 bytes: still fits
    assert dec.prefills == 1
    logits = dec.push(ord("b"))  # 32: re-prefill
    assert dec.prefills == 2
    assert len(dec.context) <= dec.keep
    dec.context.decode("utf-8")  # never starts mid-character
    with torch.no_grad():
        ref = model(torch.tensor([[CLS_ID, *dec.context]]))["lm_logits"][0, -1]
    torch.testing.assert_close(torch.from_numpy(logits), ref, atol=1e-4, rtol=0)


def test_ten_thousand_byte_prompt_works() -> None:
    model = tiny_model(4)
    prompt = ("Atiirĩrĩri, Ngai nĩ mwega. 🙂 " * 400)[:9000]
    assert len(prompt.encode()) > 10_000
    text = generate(model, prompt, GenerationConfig(max_new_bytes=100, seed=1))
    text.encode("utf-8")
    assert encode_context(prompt, 31) == prompt.encode()[-31:]


@pytest.mark.parametrize("stop_at", [StopAt.WORD, StopAt.LINE, StopAt.SENTENCE])
def test_stop_rules_end_generation(stop_at: StopAt) -> None:
    model = tiny_model(5)
    for seed in range(8):
        gen = start(model, "The ", GenerationConfig(400, HOT, StopRules(stop_at), seed=seed))
        text = gen.run()
        if gen.stop_reason == stop_at.value:
            assert StopRules(stop_at).cut(text) is None  # nothing past the cut survived
            return
    pytest.fail(f"no sample stopped at a {stop_at.value}")


def test_stop_string_is_excluded_from_output() -> None:
    model = tiny_model(6)
    full = generate(model, "x", GenerationConfig(200, HOT, seed=9))
    stop = full[30:32]
    gen = start(model, "x", GenerationConfig(200, HOT, StopRules(StopAt.NONE, (stop,)), seed=9))
    text = gen.run()
    assert gen.stop_reason == "stop_string"
    assert stop not in text and full.startswith(text)
    assert text == full[: full.index(stop)]


def test_streamed_pieces_add_up_to_the_text() -> None:
    model = tiny_model(7)
    gen = start(model, "abc", GenerationConfig(150, HOT, StopRules(StopAt.NONE, ("zz",)), seed=2))
    pieces = list(gen)
    assert len(pieces) > 1
    assert "".join(pieces) == gen.text


def test_cancel_stops_between_bytes() -> None:
    model = tiny_model(8)
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 10

    gen = start(model, "abc", GenerationConfig(1000, HOT, seed=1), cancelled=cancelled)
    gen.run()
    assert gen.stop_reason == "cancelled"
    assert gen.n_bytes == 10


def test_zero_budget_generates_nothing() -> None:
    gen = start(tiny_model(), "abc", GenerationConfig(0, seed=1))
    assert gen.run() == "" and gen.stop_reason == "max_bytes"


@pytest.mark.parametrize("prompt", ["Ngai nĩ", "ĩ" * 14 + "ab", "x" * 40])
def test_batched_candidates_are_the_texts_sequential_generation_gives(prompt: str) -> None:
    """Candidates are sampled as rows of one batch; each row must be exactly what a lone
    Generation with its seed produces, also across window overflows (31-byte window) where
    rows re-prefill separately and end at different lengths."""
    from qinet_lsp.generation import generate_candidates

    model = _biased_model(5)
    base = IncrementalDecoder(model)
    base.reset(prompt.encode())
    before = base.context
    cfgs = [GenerationConfig(max_new_bytes=n, sampling=HOT, seed=s,
                             stop=StopRules(StopAt.WORD if s == 2 else StopAt.NONE))
            for s, n in [(1, 40), (2, 40), (3, 7), (4, 60)]]
    batch = generate_candidates(base, cfgs)
    alone = []
    for cfg in cfgs:
        gen = Generation(base.fork(), cfg)
        alone.append((gen.run(), gen.stop_reason, gen.seed))
    assert [(c.text, c.stop_reason, c.seed) for c in batch] == alone
    assert base.context == before  # the document's decoder is untouched
    assert len({c.text for c in batch}) > 1


def test_batched_candidates_stop_when_cancelled() -> None:
    from qinet_lsp.generation import generate_candidates

    calls = []
    dec = IncrementalDecoder(tiny_model(1))
    cfgs = [GenerationConfig(max_new_bytes=50, sampling=HOT, seed=s) for s in range(3)]
    out = generate_candidates(dec, cfgs, cancelled=lambda: calls.append(1) or len(calls) > 5)
    assert all(c.stop_reason == "cancelled" for c in out)
    assert all(len(c.text.encode()) <= 5 for c in out)
