"""Training: byte windows with [CLS] prepended, next-byte + language-ID + word-boundary losses.

Every byte of a window is a target, the first one predicted from [CLS] alone. Languages
are sampled with weights proportional to (bytes ** size_power) so a 40 KB language is
not drowned by 10 MB of English. Deterministic for a given seed; resumable from the
``.state.pt`` file written next to the checkpoint.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .checkpoint import load_checkpoint, save_checkpoint
from .model import CLS_ID, ModelConfig, QINetMNLP, count_parameters

log = logging.getLogger(__name__)

_BOUNDARY_BYTES = frozenset(b" \t\n\r.,;:!?\"()[]{}")


@dataclass
class TextSource:
    path: str
    label: str | None  # None: no language label (no language-ID loss)
    data: bytes = field(repr=False, default=b"")


@dataclass
class TrainConfig:
    seq_len: int = 512  # tokens per window including [CLS]
    batch_size: int = 16
    steps: int = 2000
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    lang_weight: float = 0.1
    boundary_weight: float = 0.1
    size_power: float = 0.5
    seed: int = 0
    eval_every: int = 250
    eval_windows: int = 16
    bf16: bool = False
    max_minutes: float = 0.0  # 0: no time limit
    keep_saves: int = 0  # also keep the last N saves as OUT.stepNNNNNN.pt (for `qinet-lsp average`)
    device: str = "auto"  # "auto": CUDA when present, else CPU


def load_sources(specs: list[tuple[str, str | None]]) -> list[TextSource]:
    """(path, label) pairs; a folder contributes every .txt/.md file inside it."""
    out = []
    for spec, label in specs:
        p = Path(spec)
        files = sorted(x for x in p.rglob("*") if x.suffix in (".txt", ".md")) if p.is_dir() else [p]
        for f in files:
            data = f.read_bytes()
            if data:
                out.append(TextSource(str(f), label, data))
    if not out:
        raise ValueError("no training text found")
    return out


def boundary_targets(targets: Tensor) -> Tensor:
    """1 where the target byte ends a word (whitespace or punctuation), else 0."""
    table = torch.zeros(CLS_ID + 1, dtype=torch.long, device=targets.device)
    table[list(_BOUNDARY_BYTES)] = 1
    return table[targets]


class WindowSampler:
    """Random windows, sources weighted by size ** power, starts on character boundaries."""

    def __init__(self, sources: list[TextSource], labels: list[str], seq_len: int,
                 size_power: float, seed: int) -> None:
        self.sources = sources
        self.seq_len = seq_len
        self.label_ids = [labels.index(s.label) if s.label in labels else -100 for s in sources]
        weights = torch.tensor([len(s.data) ** size_power for s in sources], dtype=torch.float64)
        self.weights = weights / weights.sum()
        self.rng = torch.Generator().manual_seed(seed)

    def batch(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """inputs (n, L) with [CLS] first, targets (n, L), language ids (n,)."""
        picks = torch.multinomial(self.weights, n, replacement=True, generator=self.rng).tolist()
        rows, langs = [], []
        for i in picks:
            rows.append(self._window(self.sources[i].data))
            langs.append(self.label_ids[i])
        targets = torch.tensor(rows, dtype=torch.long)
        inputs = torch.cat([torch.full((n, 1), CLS_ID), targets[:, :-1]], dim=1)
        return inputs, targets, torch.tensor(langs)

    def _window(self, data: bytes) -> list[int]:
        span = max(1, len(data) - self.seq_len)
        start = int(torch.randint(span, (1,), generator=self.rng).item())
        while start < len(data) - 1 and 0x80 <= data[start] <= 0xBF:
            start += 1
        chunk = data[start:start + self.seq_len]
        return list(chunk) + [ord(" ")] * (self.seq_len - len(chunk))


def losses(model: QINetMNLP, inputs: Tensor, targets: Tensor, langs: Tensor,
           cfg: TrainConfig) -> dict[str, Tensor]:
    out = model(inputs)
    lm = F.cross_entropy(out["lm_logits"].flatten(0, 1).float(), targets.flatten())
    total = lm
    result = {"lm": lm}
    if (langs >= 0).any() and "lang_logits_seq" in out:
        seq = out["lang_logits_seq"].float()  # (B, L, n_langs)
        lang_t = langs[:, None].expand(-1, seq.shape[1])
        result["lang"] = F.cross_entropy(seq.flatten(0, 1), lang_t.flatten(), ignore_index=-100)
        total = total + cfg.lang_weight * result["lang"]
    if "boundary_logits" in out:
        result["boundary"] = F.cross_entropy(out["boundary_logits"].flatten(0, 1).float(),
                                             boundary_targets(targets).flatten())
        total = total + cfg.boundary_weight * result["boundary"]
    result["total"] = total
    return result


def lr_at(step: int, cfg: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Warm-up, then cosine to 10 % of the peak by the last step — or by the time limit, if
    one is set and comes first (so a time-boxed run still ends at a low learning rate)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    if cfg.max_minutes > 0:
        progress = max(progress, elapsed_s / (cfg.max_minutes * 60))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def window_bits_per_byte(model: QINetMNLP, sampler: WindowSampler, n_windows: int) -> float:
    """Mean next-byte loss in bits on fixed random windows (a quick validation score)."""
    model.eval()
    device = next(model.parameters()).device
    inputs, targets, _ = sampler.batch(n_windows)
    inputs, targets = inputs.to(device), targets.to(device)
    out = model(inputs)
    loss = F.cross_entropy(out["lm_logits"].flatten(0, 1), targets.flatten())
    model.train()
    return float(loss) / math.log(2)


def _validate(model: QINetMNLP, valid: list[TextSource], labels: list[str],
              cfg: TrainConfig) -> dict[str, Any]:
    """Next-byte bits on fixed windows: overall (windows drawn in proportion to size) and per
    file (the same number of windows from each), so a 2 KB language has its own curve."""
    fixed = WindowSampler(valid, labels, cfg.seq_len, 1.0, 12345)
    per_file = {}
    for i, src in enumerate(valid):
        one = WindowSampler([src], labels, cfg.seq_len, 1.0, 12345 + i)
        per_file[Path(src.path).name] = round(window_bits_per_byte(model, one, cfg.eval_windows), 4)
    return {"valid_bpb": round(window_bits_per_byte(model, fixed, cfg.eval_windows), 4),
            "valid_bpb_by_file": per_file}


def train(sources: list[TextSource], out_path: str, model_cfg: ModelConfig, cfg: TrainConfig,
          valid: list[TextSource] | None = None, init: str | None = None,
          on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train (or resume, or fine-tune from `init`) and write the checkpoint to out_path."""
    torch.manual_seed(cfg.seed)
    labels = sorted({s.label for s in sources if s.label})
    state_path = Path(out_path + ".state.pt")
    start_step, history = 0, list[dict[str, Any]]()
    if init:
        base = load_checkpoint(init)
        model, labels = base.model, base.languages
        if model.config.temperatures:  # fitted to the old weights; re-run `qinet-lsp calibrate`
            log.info("fine-tuning drops %s's calibration (temperatures %s)", init,
                     model.config.temperatures)
            model.config = replace(model.config, temperatures=())
        model_cfg = model.config
    else:
        model = QINetMNLP(ModelConfig(**{**asdict(model_cfg), "n_langs": max(1, len(labels))}))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = WindowSampler(sources, labels, cfg.seq_len, cfg.size_power, cfg.seed)
    if state_path.exists() and Path(out_path).exists():
        start_step, history = _resume(out_path, state_path, model, opt, sampler)
        log.info("resumed from step %d", start_step)
    device = pick_device(cfg.device)
    model.to(device)
    _optimizer_to(opt, device)
    log.info("training %d parameters on %s", count_parameters(model), device)
    model.train()
    # A resumed run continues its time budget (and so its learning-rate schedule).
    already = float(history[-1].get("elapsed_s", 0.0)) if history else 0.0
    t0, seen, step = time.monotonic() - already, 0, start_step
    for step in range(start_step, cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, time.monotonic() - t0)
        inputs, targets, langs = (t.to(device) for t in sampler.batch(cfg.batch_size))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            parts = losses(model, inputs, targets, langs, cfg)
        opt.zero_grad(set_to_none=True)
        parts["total"].backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += inputs.numel()
        done = step + 1
        elapsed = time.monotonic() - t0
        if done % 50 == 0:
            log.info("step %d/%d  loss %.3f  %.0f bytes/s  lr %.2e", done, cfg.steps,
                     parts["lm"].item(), seen / max(elapsed, 1e-9), opt.param_groups[0]["lr"])
        timed_out = cfg.max_minutes > 0 and elapsed > cfg.max_minutes * 60
        if done % cfg.eval_every == 0 or done == cfg.steps or timed_out:
            record = {"step": done, "lr": opt.param_groups[0]["lr"], "elapsed_s": round(elapsed, 1),
                      "bytes_per_s": round(seen / max(elapsed, 1e-9)),
                      **{f"train_{k}": round(v.item(), 4) for k, v in parts.items()}}
            if valid:  # the same windows every time, so the numbers compare
                record.update(_validate(model, valid, labels, cfg))
            history.append(record)
            _save(out_path, state_path, model, opt, sampler, labels, done, history, sources, cfg)
            if on_progress:
                on_progress(record)
        if timed_out:
            break
    return {"steps": step + 1, "history": history, "parameters": count_parameters(model)}


def _optimizer_to(opt: torch.optim.Optimizer, device: torch.device) -> None:
    for state in opt.state.values():
        for key, value in state.items():
            if isinstance(value, Tensor) and key != "step":
                state[key] = value.to(device)


def _save(out_path: str, state_path: Path, model: QINetMNLP, opt: torch.optim.Optimizer,
          sampler: WindowSampler, labels: list[str], step: int, history: list[dict[str, Any]],
          sources: list[TextSource], cfg: TrainConfig) -> None:
    meta = {"trained_steps": step, "train_config": asdict(cfg), "history": history,
            "training_data": [{"path": Path(s.path).name, "label": s.label or "",
                               "bytes": len(s.data)} for s in sources],
            "parameters": count_parameters(model)}
    save_checkpoint(out_path, model, labels, meta)
    if cfg.keep_saves > 0:
        _keep_save(Path(out_path), step, cfg.keep_saves)
    tmp = state_path.with_name(state_path.name + ".tmp")
    torch.save({"step": step, "optimizer": _cpu(opt.state_dict()), "history": history,
                "rng": sampler.rng.get_state(), "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(state_path)


def _keep_save(out: Path, step: int, keep: int) -> None:
    """Copy the save to OUT.stepNNNNNN.pt and delete all but the newest `keep` such copies."""
    copy = out.with_name(f"{out.name}.step{step:06d}.pt")
    shutil.copyfile(out, copy)
    for old in sorted(out.parent.glob(f"{out.name}.step[0-9]*.pt"))[:-keep]:
        old.unlink()


def _cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def _resume(out_path: str, state_path: Path, model: QINetMNLP, opt: torch.optim.Optimizer,
            sampler: WindowSampler) -> tuple[int, list[dict[str, Any]]]:
    model.load_state_dict(load_checkpoint(out_path).model.state_dict())
    st = torch.load(state_path, weights_only=True)
    opt.load_state_dict(st["optimizer"])
    sampler.rng.set_state(st["rng"])
    torch.set_rng_state(st["torch_rng"])
    return int(st["step"]), list(st["history"])
