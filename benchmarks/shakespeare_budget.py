"""Our model vs nanoGPT's published CPU result on tiny-Shakespeare, at the same budget.

    python benchmarks/shakespeare_budget.py [--seconds 124] [--corpora ../shared/corpora]

nanoGPT's CPU configuration (0.80M parameters, ~2 minutes on one thread) reaches 2.72 bits per
character on tiny-Shakespeare's validation split, scored on every position of 64-byte
windows. This trains our causal model on `tinyshakespeare.train.txt` for the same wall-clock
budget on ONE thread, then scores it two ways: nanoGPT's (64-byte windows, every position
predicted from the bytes before it in its window) and ours (the whole file as one stream with
the server's sliding window). ASCII text: bits per byte = bits per character.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from qinet_lsp.checkpoint import load_checkpoint
from qinet_lsp.evaluation import bits_per_byte
from qinet_lsp.model import CLS_ID, ModelConfig, QINetMNLP, count_parameters
from qinet_lsp.training import TextSource, TrainConfig, train


@torch.inference_mode()
def nanogpt_style(model: QINetMNLP, data: bytes, block: int = 64, batch: int = 64) -> float:
    """x = data[i:i+block], y = data[i+1:i+block+1] for consecutive blocks; mean bits."""
    starts = list(range(0, len(data) - block - 1, block))
    total, count = 0.0, 0
    for k in range(0, len(starts), batch):
        rows = [data[i:i + block + 1] for i in starts[k:k + batch]]
        x = torch.tensor([[CLS_ID, *r[:-1]] for r in rows])
        y = torch.tensor([list(r[1:]) for r in rows])
        logits = model(x)["lm_logits"][:, 1:]  # position p has seen x[1..p]: predicts r[p]
        total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        count += y.numel()
    return total / count / math.log(2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=124.0)
    ap.add_argument("--corpora", default=str(Path(__file__).resolve().parents[1].parent / "shared"
                                             / "corpora"))
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--dilations", default="1,2,4,8,16,32")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=6e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    corpora = Path(args.corpora)
    train_text = (corpora / "tinyshakespeare.train.txt").read_bytes()
    valid_text = (corpora / "tinyshakespeare.valid.txt").read_bytes()
    cfg = ModelConfig(d_model=args.d_model, max_len=args.seq_len,
                      dilations=tuple(int(x) for x in args.dilations.split(",")), n_langs=1)
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "shakespeare.pt")
        t0 = time.monotonic()
        result = train([TextSource("tinyshakespeare.train.txt", "english", train_text)], out, cfg,
                       TrainConfig(seq_len=args.seq_len, batch_size=args.batch_size, steps=100_000,
                                   lr=args.lr, warmup=50, eval_every=100_000,
                                   max_minutes=args.seconds / 60, lang_weight=0.0))
        seconds = time.monotonic() - t0
        model = load_checkpoint(out).model
    print(f"trained {result['steps']} steps ({args.batch_size} x {args.seq_len}) in {seconds:.0f} s "
          f"on 1 thread; {count_parameters(model):,} parameters; receptive field {cfg.receptive_field}")
    print()
    print("| model | parameters | budget | 64-byte windows (nanoGPT's scoring) | long stream |")
    print("|---|---:|---|---:|---:|")
    print("| nanoGPT CPU config (published) | 800,000 | ~2 min, 1 thread | 2.72 | — |")
    print(f"| qinet causal, d={args.d_model}, dilations {args.dilations} | {count_parameters(model):,} | "
          f"{seconds:.0f} s, 1 thread | {nanogpt_style(model, valid_text):.3f} | "
          f"{bits_per_byte(model, valid_text):.3f} |")


if __name__ == "__main__":
    main()
