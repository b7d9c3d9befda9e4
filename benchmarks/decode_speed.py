"""Decode speed: cached step() vs full recompute per byte, at several context lengths.

    python benchmarks/decode_speed.py [--checkpoint PATH] [--repeats 5] [--json]

Prints a Markdown table (medians of --repeats runs). Both decoders run the same model,
prompt, sampler and seed, interleaved in one process, so they see the same machine load.
Everything runs on one thread (set before NumPy is imported). Rows marked "window 4096"
use an untrained model of the same width and depth whose max_len is 4097, read with its full
window, so the 4096-byte context is really read (the shipped model reads windows of its
config's window_bytes; longer contexts are cut to them, and a full window is re-prefilled
from its last refill_keep bytes, which the step() column includes). The batch rows sample
3 candidates of 64 bytes as one batch (the server's way) and one after another.
"""

from __future__ import annotations

# isort: off
import one_thread  # noqa: F401  (pins one thread before NumPy is imported)
# isort: on

import argparse
import json
import statistics
import time
from dataclasses import replace
from typing import Any

from qinet_lsp import kernels
from qinet_lsp.checkpoint import load_runtime
from qinet_lsp.config import ModelConfig
from qinet_lsp.decoding import Decoder, IncrementalDecoder, RecomputeDecoder
from qinet_lsp.defaults import default_checkpoint_path
from qinet_lsp.engine import warm_up
from qinet_lsp.generation import Generation, GenerationConfig, generate_candidates
from qinet_lsp.runtime import NumpyModel, Runtime
from qinet_lsp.sampling import SamplingConfig

PROMPT = ("It was the best of times, it was the worst of times; Ngai nĩ mwega, "
          "Nyasaye ema nigi teko. ") * 80
SAMPLING = SamplingConfig(0.8, 0, 0.95)


def measure(decoder: Decoder, context: bytes, n_bytes: int) -> tuple[float, float]:
    """(prefill ms, decode bytes/s) for one run."""
    t0 = time.perf_counter()
    decoder.reset(context)
    t1 = time.perf_counter()
    gen = Generation(decoder, GenerationConfig(n_bytes, SAMPLING, seed=0))
    gen.run()
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, gen.n_bytes / (t2 - t1)


def bench_contexts(model: Runtime, label: str, contexts: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    data = PROMPT.encode()
    for ctx in contexts:
        context = data[-ctx:]
        results: dict[str, list[tuple[float, float]]] = {"step": [], "recompute": []}
        n_slow = 64 if ctx <= 512 else 16
        for _ in range(repeats):
            results["step"].append(measure(IncrementalDecoder(model), context, 512))
            results["recompute"].append(measure(RecomputeDecoder(model), context, n_slow))
        step_bps = statistics.median(r[1] for r in results["step"])
        slow_bps = statistics.median(r[1] for r in results["recompute"])
        rows.append({"model": label, "context": ctx, "read": min(ctx, model.config.window_bytes),
                     "step_bps": step_bps, "recompute_bps": slow_bps,
                     "prefill_ms": statistics.median(r[0] for r in results["step"])})
    return rows


def bench_batch(model: Runtime, repeats: int, n: int = 3, n_bytes: int = 64) -> dict[str, float]:
    """Total bytes/s for n candidates: one batch vs one after another (same seeds and texts)."""
    cfgs = [GenerationConfig(n_bytes, SAMPLING, seed=s) for s in range(n)]
    base = IncrementalDecoder(model)
    base.reset(PROMPT.encode()[-256:])
    batch, serial = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = generate_candidates(base, cfgs)
        t1 = time.perf_counter()
        for cfg in cfgs:
            Generation(base.fork(), cfg).run()
        t2 = time.perf_counter()
        total = sum(len(c.text.encode()) for c in got)
        batch.append(total / (t1 - t0))
        serial.append(total / (t2 - t1))
    return {"candidates": n, "batch_bps": statistics.median(batch),
            "serial_bps": statistics.median(serial)}


def run(checkpoint: str, repeats: int) -> dict[str, Any]:
    loaded = load_runtime(checkpoint)
    model = loaded.model
    assert isinstance(model, NumpyModel), "the decode benchmark needs a causal checkpoint"
    warm_up(model)
    cfg = model.config
    long_cfg = replace(cfg, max_len=4097, context_bytes=0, refill_bytes=0)  # the full window
    long_model = NumpyModel(long_cfg, _long_state(long_cfg))
    warm_up(long_model)
    return {
        "model": {"d_model": cfg.d_model, "dilations": list(cfg.dilations), "max_len": cfg.max_len,
                  "window_bytes": cfg.window_bytes, "refill_keep": cfg.refill_keep},
        "kernel": "numba" if kernels.AVAILABLE else "numpy", "threads": 1, "repeats": repeats,
        "contexts": bench_contexts(model, f"shipped (window {cfg.window_bytes})", [64, 256, 1024, 4096],
                                   repeats)
        + bench_contexts(long_model, "window 4096 (untrained)", [64, 256, 1024, 4096], repeats),
        "batch": bench_batch(model, repeats),
    }


def _long_state(cfg: ModelConfig) -> dict[str, Any]:
    """Untrained weights of the same shape with a longer position grid, so the 4096-byte rows
    read a real window (their text is noise; only their speed matters)."""
    import torch

    from qinet_lsp.model import QINetMNLP

    torch.manual_seed(0)
    return QINetMNLP(cfg).eval().numpy_state()


def table(res: dict[str, Any]) -> list[str]:
    m = res["model"]
    lines = [f"model: {m['d_model']} wide, dilations {m['dilations']}, max_len {m['max_len']}, "
             f"windows of {m['window_bytes']} bytes refilled from {m['refill_keep']}; "
             f"{res['kernel']} step kernel, {res['threads']} thread; medians of {res['repeats']}", "",
             "| model | context bytes | bytes the model reads | step() B/s | recompute B/s | speed-up "
             "| prefill ms |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["contexts"]:
        lines.append(f"| {r['model']} | {r['context']} | {r['read']} | {r['step_bps']:,.0f} | "
                     f"{r['recompute_bps']:,.0f} | {r['step_bps'] / r['recompute_bps']:.1f}x | "
                     f"{r['prefill_ms']:.1f} |")
    b = res["batch"]
    lines += ["", f"{b['candidates']} candidates of 64 bytes: one batch {b['batch_bps']:,.0f} B/s in all, "
              f"one after another {b['serial_bps']:,.0f} B/s ({b['batch_bps'] / b['serial_bps']:.2f}x)"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(default_checkpoint_path()))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = run(args.checkpoint, args.repeats)
    print(json.dumps(res, indent=2) if args.json else "\n".join(table(res)))


if __name__ == "__main__":
    main()
