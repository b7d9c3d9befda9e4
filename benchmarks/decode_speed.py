"""Decode speed: cached step() vs full recompute per byte, at several context lengths.

    python benchmarks/decode_speed.py [--checkpoint PATH] [--repeats 5] [--threads N]

Prints a Markdown table (medians of --repeats runs). Both decoders run the same model,
prompt, sampler and seed, interleaved in one process, so they see the same machine load.
Rows marked "window 4097" use an untrained model of the same width and depth whose
max_len is 4097, so the 4096-byte context is really read (the shipped model's window
is max_len - 1 bytes; longer contexts are cut to it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from qinet_lsp.checkpoint import load_checkpoint
from qinet_lsp.decoding import Decoder, IncrementalDecoder, RecomputeDecoder
from qinet_lsp.defaults import default_checkpoint_path
from qinet_lsp.generation import Generation, GenerationConfig
from qinet_lsp.model import QINetMNLP
from qinet_lsp.sampling import SamplingConfig

PROMPT = ("It was the best of times, it was the worst of times; Ngai nĩ mwega, "
          "Nyasaye ema nigi teko. ") * 80


def measure(decoder: Decoder, context: bytes, n_bytes: int) -> tuple[float, float]:
    """(prefill ms, decode bytes/s) for one run."""
    t0 = time.perf_counter()
    decoder.reset(context)
    t1 = time.perf_counter()
    cfg = GenerationConfig(n_bytes, SamplingConfig(0.8, 0, 0.95), seed=0)
    gen = Generation(decoder, cfg)
    gen.run()
    t2 = time.perf_counter()
    return (t1 - t0) * 1000, gen.n_bytes / (t2 - t1)


def bench(model: QINetMNLP, label: str, contexts: list[int], repeats: int) -> list[str]:
    rows = []
    data = PROMPT.encode()
    for ctx in contexts:
        context = data[-ctx:]
        results: dict[str, list[tuple[float, float]]] = {"step": [], "recompute": []}
        n_slow = 64 if ctx <= 512 else 16
        for _ in range(repeats):
            results["step"].append(measure(IncrementalDecoder(model), context, 256))
            results["recompute"].append(measure(RecomputeDecoder(model), context, n_slow))
        step_bps = statistics.median(r[1] for r in results["step"])
        slow_bps = statistics.median(r[1] for r in results["recompute"])
        prefill = statistics.median(r[0] for r in results["step"])
        rows.append(f"| {label} | {ctx} | {min(ctx, model.config.max_len - 1)} | "
                    f"{step_bps:,.0f} | {slow_bps:,.0f} | {step_bps / slow_bps:.1f}x | {prefill:.1f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(default_checkpoint_path()))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.checkpoint)
    model = loaded.model
    cfg = model.config
    long_model = QINetMNLP(replace(cfg, max_len=4097)).eval()
    print(f"model: {cfg.d_model} wide, dilations {list(cfg.dilations)}, max_len {cfg.max_len}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.repeats}")
    print()
    print("| model | context bytes | bytes the model reads | step() B/s | recompute B/s | speed-up "
          "| prefill ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in bench(model, f"shipped (window {cfg.max_len - 1})", [64, 256, 4096], args.repeats):
        print(row)
    for row in bench(long_model, "window 4097", [64, 256, 4096], args.repeats):
        print(row)


if __name__ == "__main__":
    main()
