"""The original QINetMNLP shape vs the shipped shape, both causal, trained the same way.

    python benchmarks/original_vs_shipped.py [--minutes 8] [--threads 2] [--corpora ../shared/corpora]
        [--checkpoint checkpoints/qinet-default.pt]

Both models are trained from scratch on the three Kenyan-language train files only (labels
luo/kikuyu/lubukusu), with the same recipe: the same wall-clock budget, optimizer, learning-rate
schedule, batch of 12 windows of each model's own window length, losses and seed. Then each is
scored strictly causally (the server's windows) on the three valid files. For reference the
table also shows the best Witten-Bell n-gram (orders 3-7, from ngram_baseline.py) and the shipped
checkpoint, which was trained on all the corpora for much longer.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from qinet_lsp.checkpoint import load_checkpoint
from qinet_lsp.evaluation import bits_per_byte
from qinet_lsp.model import ModelConfig, count_parameters
from qinet_lsp.training import TextSource, TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ngram_baseline import WittenBell  # noqa: E402

LANGS = ("kikuyu", "luo", "lubukusu")
SHAPES = {
    "original (d=64, dilations 1-8, L=256)": ModelConfig(),
    "shipped (d=128, dilations 1-128, L=512)": ModelConfig(
        d_model=128, max_len=512, dilations=(1, 2, 4, 8, 16, 32, 64, 128)),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget per model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--corpora", default=str(Path(__file__).resolve().parents[1].parent / "shared"
                                             / "corpora"))
    ap.add_argument("--checkpoint", default=str(Path(__file__).resolve().parents[1] / "checkpoints"
                                                / "qinet-default.pt"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    corpora = Path(args.corpora)
    train_text = {lang: (corpora / f"{lang}.train.txt").read_bytes() for lang in LANGS}
    valid_text = {lang: (corpora / f"{lang}.valid.txt").read_bytes() for lang in LANGS}
    sources = [TextSource(f"{lang}.train.txt", lang, train_text[lang]) for lang in LANGS]

    rows: list[tuple[str, str, dict[str, float]]] = []
    for name, shape in SHAPES.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "model.pt")
            t0 = time.monotonic()
            result = train(sources, out, shape,
                           TrainConfig(seq_len=shape.max_len, batch_size=12, steps=1_000_000,
                                       lr=3e-3, warmup=100, eval_every=1_000_000, seed=0,
                                       size_power=0.5, max_minutes=args.minutes))
            seconds = time.monotonic() - t0
            model = load_checkpoint(out).model
        scores = {lang: bits_per_byte(model, valid_text[lang]) for lang in LANGS}
        note = (f"{count_parameters(model):,} params, {result['steps']:,} steps in {seconds:.0f} s, "
                f"{args.threads} threads")
        rows.append((name, note, scores))
        print(f"{name}: {note}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)

    ngram = {lang: min(WittenBell(n).fit(train_text[lang]).bits_per_byte(valid_text[lang])
                       for n in range(3, 8)) for lang in LANGS}
    rows.append(("best Witten-Bell n-gram, orders 3-7", "trained on the same file", ngram))
    shipped = load_checkpoint(args.checkpoint).model
    rows.append(("shipped checkpoint (all corpora, long training)", Path(args.checkpoint).name,
                 {lang: bits_per_byte(shipped, valid_text[lang]) for lang in LANGS}))

    print()
    print("| model | how | " + " | ".join(f"{lang}.valid" for lang in LANGS) + " |")
    print("|---|---|" + "---:|" * len(LANGS))
    for name, note, scores in rows:
        print(f"| {name} | {note} | " + " | ".join(f"{scores[lang]:.3f}" for lang in LANGS) + " |")


if __name__ == "__main__":
    main()
