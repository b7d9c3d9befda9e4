"""Training on a small text made here: the loss falls, seeds repeat, runs resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qinet_lsp.checkpoint import load_checkpoint
from qinet_lsp.model import CLS_ID, ModelConfig
from qinet_lsp.training import TextSource, TrainConfig, WindowSampler, boundary_targets, train

TEXT_EN = ("the cat sat on the mat. the dog sat on the log. " * 40).encode()
TEXT_KI = ("mũndũ ũmwe nĩ mwega na nĩ mũthingu. " * 40).encode()
CFG = ModelConfig(d_model=16, max_len=32, dilations=(1, 2, 4))


def _sources() -> list[TextSource]:
    return [TextSource("en.txt", "english", TEXT_EN), TextSource("ki.txt", "kikuyu", TEXT_KI)]


def _tc(**kw: object) -> TrainConfig:
    base = dict(seq_len=32, batch_size=8, steps=60, lr=1e-2, warmup=5, eval_every=30,
                eval_windows=4, seed=0)
    return TrainConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_windows_put_cls_first_and_target_every_byte() -> None:
    sampler = WindowSampler(_sources(), ["english", "kikuyu"], 32, 0.5, seed=0)
    inputs, targets, langs = sampler.batch(4)
    assert inputs.shape == targets.shape == (4, 32)
    assert (inputs[:, 0] == CLS_ID).all()
    assert torch.equal(inputs[:, 1:], targets[:, :-1])  # target t is the byte after input t
    assert set(langs.tolist()) <= {0, 1}
    for row in targets.tolist():
        assert not 0x80 <= row[0] <= 0xBF  # windows start on a character boundary
    assert boundary_targets(torch.tensor([32, 97, 46])).tolist() == [1, 0, 1]


def test_training_lowers_the_loss_and_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    out = str(tmp_path / "m.pt")
    result = train(_sources(), out, CFG, _tc(), valid=_sources())
    first, last = result["history"][0], result["history"][-1]
    assert last["valid_bpb"] < first["valid_bpb"] < 8.5
    loaded = load_checkpoint(out)
    assert loaded.languages == ["english", "kikuyu"]
    assert loaded.metadata["trained_steps"] == 60
    json.dumps(loaded.metadata)  # plain data only


def test_same_seed_same_weights_and_resume_continues(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a.pt"), str(tmp_path / "b.pt")
    train(_sources(), a, CFG, _tc(steps=20, eval_every=10))

    def killed_at_10(record: dict) -> None:
        if record["step"] == 10:
            raise KeyboardInterrupt  # the run dies right after its step-10 checkpoint

    with pytest.raises(KeyboardInterrupt):
        train(_sources(), b, CFG, _tc(steps=20, eval_every=10), on_progress=killed_at_10)
    assert load_checkpoint(b).metadata["trained_steps"] == 10
    train(_sources(), b, CFG, _tc(steps=20, eval_every=10))  # resume
    wa, wb = load_checkpoint(a).model.state_dict(), load_checkpoint(b).model.state_dict()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-5, rtol=1e-4)


def test_fine_tune_starts_from_an_existing_checkpoint(tmp_path: Path) -> None:
    base, tuned = str(tmp_path / "base.pt"), str(tmp_path / "tuned.pt")
    train(_sources(), base, CFG, _tc(steps=10, eval_every=10))
    result = train([TextSource("mine.txt", None, b"my own notes about qinet. " * 30)], tuned,
                   CFG, _tc(steps=10, eval_every=10), init=base)
    assert result["steps"] == 10
    assert load_checkpoint(tuned).languages == ["english", "kikuyu"]


def test_keep_saves_leaves_the_last_n_saves_beside_the_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    train(_sources(), str(out), CFG, _tc(steps=40, eval_every=10, keep_saves=2))
    kept = sorted(p.name for p in tmp_path.glob("m.pt.step*.pt"))
    assert kept == ["m.pt.step000030.pt", "m.pt.step000040.pt"]
    last = load_checkpoint(tmp_path / kept[-1]).model.state_dict()
    for key, value in load_checkpoint(out).model.state_dict().items():
        assert torch.equal(value, last[key])
    assert load_checkpoint(tmp_path / kept[0]).metadata["trained_steps"] == 30
