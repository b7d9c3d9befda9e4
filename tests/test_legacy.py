"""A checkpoint in the original release's format loads and gives the original model's logits.

The reference below recomputes the original architecture from the raw tensors with plain
functional ops (full L x L QIM interference matrix, whole-sequence GroupNorm and SE mean,
language head on [CLS]), independently of qinet_lsp.model.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from qinet_lsp.checkpoint import load_checkpoint
from qinet_lsp.decoding import RecomputeDecoder, make_decoder
from qinet_lsp.generation import GenerationConfig, generate
from qinet_lsp.model import CLS_ID, ModelConfig, QINetMNLP


def _original_state(d: int = 64, max_len: int = 128, n_langs: int = 3, seed: int = 0) -> dict:
    """Random tensors with the original's names and shapes (4 blocks, dilations 1,2,4,8)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    hid = d // 8
    grid = torch.linspace(0.0, 1.0, max_len)
    emb = r(257, d)
    state = {"embed.weight": emb, "lm_head.weight": emb,
             "qim.a": torch.tensor(1.1), "qim.alpha": torch.tensor(0.4),
             "qim.k": torch.tensor(4.2), "qim.m": torch.tensor(2.9),
             "qim.delta": torch.linspace(0.1, 0.6, 6) + r(6, scale=0.01),
             "qim.E": torch.linspace(0.05, 0.30, 6) + r(6, scale=0.01),
             "qim.u_alpha_re": r(6), "qim.u_alpha_im": r(6), "qim.u_beta_re": r(6),
             "qim.u_beta_im": r(6), "qim.theta_grid": grid.view(max_len, 1),
             "qim.tau_grid": grid.view(1, max_len), "in_proj.weight": r(d, d),
             "norm.weight": 1 + r(d), "norm.bias": r(d),
             "lang_head.weight": r(n_langs, d), "lang_head.bias": r(n_langs),
             "boundary_head.weight": r(2, d), "boundary_head.bias": r(2)}
    for i in range(4):
        p = f"blocks.{i}."
        state |= {p + "conv.dw.weight": r(d, 1, 3, scale=0.5), p + "conv.pw.weight": r(d, d, 1),
                  p + "conv.gn.weight": 1 + r(d), p + "conv.gn.bias": r(d),
                  p + "se.fc1.weight": r(hid, d, 1), p + "se.fc1.bias": r(hid),
                  p + "se.fc2.weight": r(d, hid, 1), p + "se.fc2.bias": r(d)}
    return state


def _original_forward(s: dict, tokens: torch.Tensor) -> dict:
    B, L = tokens.shape
    theta, tau = s["qim.theta_grid"][:L], s["qim.tau_grid"][:, :L]  # (L,1), (1,L)
    base = s["qim.a"] * torch.exp(-s["qim.alpha"] * theta) * torch.sin(s["qim.k"] * theta) \
        * torch.cos(s["qim.m"] * theta)
    ua = torch.complex(s["qim.u_alpha_re"], s["qim.u_alpha_im"])
    ub = torch.complex(s["qim.u_beta_re"], s["qim.u_beta_im"])
    ua, ub = ua / (ua.abs().pow(2).sum().sqrt() + 1e-8), ub / (ub.abs().pow(2).sum().sqrt() + 1e-8)
    c = ub * torch.conj(ua)
    S = sum(c[i] * torch.exp(-1j * (2.0 * s["qim.E"][i] * tau + s["qim.delta"][i] * theta))
            for i in range(6)).abs()  # (L, L)
    rr = base[:, 0] * torch.diagonal(S)
    mod = 0.5 + (rr - rr.min()) / (rr.max() - rr.min() + 1e-8)
    x = F.embedding(tokens, s["embed.weight"]) @ s["in_proj.weight"].T  # (B, L, d)
    x = (x * mod[None, :, None]).transpose(1, 2)
    for i, dil in enumerate((1, 2, 4, 8)):
        p = f"blocks.{i}."
        y = F.conv1d(F.pad(x, (2 * dil, 0)), s[p + "conv.dw.weight"], dilation=dil, groups=x.shape[1])
        y = F.conv1d(y, s[p + "conv.pw.weight"])
        y = F.silu(F.group_norm(y, 1, s[p + "conv.gn.weight"], s[p + "conv.gn.bias"]))
        gate = torch.sigmoid(F.conv1d(F.silu(F.conv1d(y.mean(-1, keepdim=True), s[p + "se.fc1.weight"],
                                                      s[p + "se.fc1.bias"])),
                                      s[p + "se.fc2.weight"], s[p + "se.fc2.bias"]))
        x = x + y * gate
    h = F.layer_norm(x.transpose(1, 2), (x.shape[1],), s["norm.weight"], s["norm.bias"])
    return {"lm_logits": h @ s["embed.weight"].T,
            "lang_logits": h[:, 0] @ s["lang_head.weight"].T + s["lang_head.bias"],
            "boundary_logits": h @ s["boundary_head.weight"].T + s["boundary_head.bias"]}


def _write_original_checkpoint(path: Path, state: dict, key: str = "model_state_dict") -> None:
    labels = {"kikuyu": 0, "lubukusu": 1, "luo": 2}
    torch.save({key: state, "label_to_id": labels, "id_to_label": {v: k for k, v in labels.items()},
                "epoch": 7, "val_loss": 2.5}, path)


def test_original_format_checkpoint_gives_the_original_logits(tmp_path: Path) -> None:
    state = _original_state()
    path = tmp_path / "qinet_m_nlp_best.pt"
    _write_original_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert loaded.kind == "legacy"
    assert loaded.model.config == ModelConfig(d_model=64, max_len=128, n_langs=3, semantics="legacy")
    assert loaded.languages == ["kikuyu", "lubukusu", "luo"]
    assert loaded.metadata == {"epoch": 7, "val_loss": 2.5}
    g = torch.Generator().manual_seed(1)
    for length in (1, 17, 128):
        tokens = torch.randint(0, 256, (2, length), generator=g)
        tokens[:, 0] = CLS_ID
        with torch.no_grad():
            ours, ref = loaded.model(tokens), _original_forward(state, tokens)
        for key in ref:
            torch.testing.assert_close(ours[key], ref[key], atol=1e-4, rtol=1e-4)


def test_legacy_semantics_really_see_the_future(tmp_path: Path) -> None:
    """The original's earlier logits move when a byte is appended; ours must reproduce that."""
    path = tmp_path / "orig.pt"
    _write_original_checkpoint(path, _original_state(seed=2), key="model_state")
    model = load_checkpoint(path).model
    tokens = torch.tensor([[CLS_ID, *b"Ngai ni mwega muno"]])
    with torch.no_grad():
        short = model(tokens[:, :-1])["lm_logits"]
        long = model(tokens)["lm_logits"][:, :-1]
    assert (short - long).abs().max() > 1e-3


def test_legacy_model_generates_with_full_recompute(tmp_path: Path) -> None:
    path = tmp_path / "orig.pt"
    _write_original_checkpoint(path, _original_state(max_len=32))
    model = load_checkpoint(path).model
    assert isinstance(make_decoder(model), RecomputeDecoder)
    cfg = GenerationConfig(max_new_bytes=80, seed=3)  # longer than the window: it slides
    text = generate(model, "Atiirĩrĩri " * 10, cfg)
    assert text.encode("utf-8")
    assert text == generate(model, "Atiirĩrĩri " * 10, cfg)


def test_legacy_model_has_no_step(tmp_path: Path) -> None:
    path = tmp_path / "orig.pt"
    _write_original_checkpoint(path, _original_state(max_len=16))
    model: QINetMNLP = load_checkpoint(path).model
    try:
        model.prefill(torch.tensor([[CLS_ID]]))
    except RuntimeError as exc:
        assert "incrementally" in str(exc)
    else:
        raise AssertionError("legacy prefill should refuse")
