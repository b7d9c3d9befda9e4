"""Reference tests for the causal model: step() == forward(), and nothing sees the future."""

from __future__ import annotations

import pytest
import torch

from qinet_lsp.model import CLS_ID, ModelConfig, QINetMNLP, count_parameters

CONFIGS = [
    ModelConfig(d_model=16, max_len=32, dilations=(1, 2, 4), n_langs=2),
    ModelConfig(d_model=24, max_len=20, dilations=(1, 3, 9, 2), kernel_size=4, n_langs=3),
    ModelConfig(d_model=8, max_len=12, dilations=(1,), kernel_size=1, n_langs=1, boundary_head=False),
    ModelConfig(),  # the original 43k-parameter shape, causal
    ModelConfig(d_model=16, max_len=24, dilations=(1, 2), n_langs=2, temperatures=(0.8, 1.7)),
]


def _tokens(batch: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(0, 256, (batch, length), generator=g)
    t[:, 0] = CLS_ID
    return t


def _model(cfg: ModelConfig, seed: int) -> QINetMNLP:
    torch.manual_seed(seed)
    model = QINetMNLP(cfg).eval()
    with torch.no_grad():  # untrained QIM/SE/norm params are too regular; perturb them all
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_original_config_has_43085_parameters() -> None:
    assert count_parameters(QINetMNLP(ModelConfig())) == 43_085


@pytest.mark.parametrize("cfg", CONFIGS,
                         ids=lambda c: f"d{c.d_model}L{c.max_len}{'T' * bool(c.temperatures)}")
@pytest.mark.parametrize("seed", [0, 1])
def test_step_matches_forward_at_every_position_past_max_len(cfg: ModelConfig, seed: int) -> None:
    model = _model(cfg, seed)
    length = cfg.max_len * 2 + 7  # up to and beyond L_max
    tokens = _tokens(3, length, seed)
    with torch.no_grad():
        full = model(tokens)
        out, state = model.prefill(tokens[:, :1])
        for key in ("lm_logits", "boundary_logits"):
            if key in full:
                torch.testing.assert_close(out[key][:, 0], full[key][:, 0], atol=1e-4, rtol=0)
        for t in range(1, length):
            out = model.step(tokens[:, t], state)
            worst = (out["lm_logits"] - full["lm_logits"][:, t]).abs().max().item()
            assert worst <= 1e-4, f"position {t}: step differs from forward by {worst}"
            lang = (out["lang_logits"] - full["lang_logits_seq"][:, t]).abs().max().item()
            assert lang <= 1e-4, f"position {t}: language logits differ by {lang}"
            if "boundary_logits" in full:
                torch.testing.assert_close(out["boundary_logits"], full["boundary_logits"][:, t],
                                           atol=1e-4, rtol=0)
    assert (state.pos == length).all()


@pytest.mark.parametrize("split", [1, 5, 19, 31, 40])
def test_prefill_then_step_matches_forward(split: int) -> None:
    cfg = CONFIGS[0]
    model = _model(cfg, 3)
    tokens = _tokens(2, 48, 7)
    with torch.no_grad():
        full = model(tokens)
        out, state = model.prefill(tokens[:, :split])
        torch.testing.assert_close(out["lm_logits"], full["lm_logits"][:, :split], atol=1e-4, rtol=0)
        for t in range(split, 48):
            step = model.step(tokens[:, t], state)
            torch.testing.assert_close(step["lm_logits"], full["lm_logits"][:, t], atol=1e-4, rtol=0)


def test_appending_a_byte_never_changes_earlier_outputs() -> None:
    model = _model(CONFIGS[1], 5)
    tokens = _tokens(2, 30, 9)
    with torch.no_grad():
        short = model(tokens[:, :20])
        long = model(tokens)
    for key in ("lm_logits", "boundary_logits", "lang_logits_seq"):
        torch.testing.assert_close(long[key][:, :20], short[key], atol=1e-5, rtol=0)


def test_language_logits_describe_the_text_so_far() -> None:
    """The [CLS] position alone cannot know the language; the last prefix can."""
    model = _model(CONFIGS[0], 2)
    tokens = _tokens(1, 25, 4)
    with torch.no_grad():
        out = model(tokens)
    torch.testing.assert_close(out["lang_logits"], out["lang_logits_seq"][:, -1])
    assert not torch.allclose(out["lang_logits_seq"][:, 0], out["lang_logits_seq"][:, -1])


def test_state_clone_and_select_are_independent() -> None:
    model = _model(CONFIGS[0], 0)
    tokens = _tokens(2, 10, 0)
    with torch.no_grad():
        _, state = model.prefill(tokens)
        twin = state.clone()
        row = state.select([1])
        a = model.step(torch.tensor([65, 66]), state)
        b = model.step(torch.tensor([65, 66]), twin)
        c = model.step(torch.tensor([66]), row)
    torch.testing.assert_close(a["lm_logits"], b["lm_logits"])
    torch.testing.assert_close(c["lm_logits"][0], a["lm_logits"][1], atol=1e-5, rtol=0)


def test_invalid_configs_are_rejected() -> None:
    with pytest.raises(ValueError, match="semantics"):
        ModelConfig(semantics="bidirectional")
    with pytest.raises(ValueError, match="dilations"):
        ModelConfig(dilations=())


@pytest.mark.skipif(__import__("qinet_lsp.stepper").stepper.compiled_kernel() is None,
                    reason="numba not installed")
@pytest.mark.parametrize("temperatures", [(), (0.6, 1.0, 2.2)])
def test_compiled_kernel_matches_the_numpy_reference_with_rows_at_different_positions(
        temperatures: tuple[float, ...]) -> None:
    import numpy as np

    from qinet_lsp import stepper
    from qinet_lsp.runtime import NumpyModel

    torch.manual_seed(3)
    model = QINetMNLP(ModelConfig(d_model=24, max_len=48, dilations=(1, 2, 4, 8), n_langs=3,
                                  temperatures=temperatures)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    rt = NumpyModel(model.config, model.numpy_state())
    g = np.random.default_rng(0)
    states = [rt.prefill(np.array([[CLS_ID, *g.integers(0, 256, n)]]))[1] for n in (0, 5, 30, 60)]
    a = states[0].select([0, 0, 0, 0])
    for r, st in enumerate(states):
        stepper.put_row(a, r, st)
    b = a.clone()
    for _ in range(40):  # past max_len too (positions reuse the last modulation value)
        tok = g.integers(0, 256, 4)
        out_a, out_b = stepper.step(tok, a, compiled=True), stepper.step(tok, b, compiled=False)
        for key in out_a:
            np.testing.assert_allclose(out_a[key], out_b[key], atol=2e-4, rtol=0)
    np.testing.assert_allclose(a.history, b.history, atol=2e-4, rtol=0)
    np.testing.assert_allclose(a.se_sum, b.se_sum, atol=2e-3, rtol=1e-5)
