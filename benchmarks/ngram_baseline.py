"""A classic opponent: interpolated Witten-Bell byte n-grams, orders 3-7.

    python benchmarks/ngram_baseline.py [--corpora ../shared/corpora] [--orders 3,4,5,6,7]
        [--files kikuyu,luo,...] [--checkpoint PATH]

For each corpus pair NAME.train.txt / NAME.valid.txt, trains an n-gram of each order on the
train file (the same language and domain as the valid file: the strongest such opponent) and
prints the bits per byte on the valid file, beside the qinet model's strictly causal score.

Witten-Bell: P(b | h) = (c(h, b) + T(h) * P(b | h')) / (c(h) + T(h)), where T(h) is the number
of distinct bytes seen after h and h' is h without its oldest byte; order 0 is add-one over
the 256 bytes. Contexts never seen back off to h'.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from pathlib import Path


class WittenBell:
    def __init__(self, order: int) -> None:
        self.order = order  # n: the context is n - 1 bytes
        self.counts: list[dict[bytes, dict[int, int]]] = [defaultdict(dict) for _ in range(order)]
        self.unigram = [1] * 256  # add-one
        self.total = 256

    def fit(self, data: bytes) -> WittenBell:
        for i, b in enumerate(data):
            self.unigram[b] += 1
            self.total += 1
            for k in range(1, self.order):  # context lengths 1 .. n-1
                if i - k < 0:
                    break
                followers = self.counts[k][data[i - k:i]]
                followers[b] = followers.get(b, 0) + 1
        self.totals = [{h: (sum(f.values()), len(f)) for h, f in level.items()} for level in self.counts]
        return self

    def prob(self, history: bytes, b: int) -> float:
        p = self.unigram[b] / self.total
        for k in range(1, min(self.order, len(history) + 1)):
            h = history[len(history) - k:]
            stats = self.totals[k].get(h)
            if stats is None:
                break  # longer contexts contain this one: none of them was seen either
            c_h, t_h = stats
            p = (self.counts[k][h].get(b, 0) + t_h * p) / (c_h + t_h)
        return p

    def bits_per_byte(self, data: bytes) -> float:
        n = self.order - 1
        total = sum(-math.log2(self.prob(data[max(0, i - n):i], b)) for i, b in enumerate(data))
        return total / len(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    default_corpora = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
    ap.add_argument("--corpora", default=str(default_corpora))
    ap.add_argument("--orders", default="3,4,5,6,7")
    ap.add_argument("--files", default="kikuyu,luo,lubukusu,tinyshakespeare,english-books,python-docs")
    ap.add_argument("--checkpoint", default=None, help="also score this qinet checkpoint")
    args = ap.parse_args()
    orders = [int(x) for x in args.orders.split(",")]
    model = None
    if args.checkpoint:
        from qinet_lsp.checkpoint import load_checkpoint
        from qinet_lsp.evaluation import bits_per_byte

        model = load_checkpoint(args.checkpoint).model
    header = " | ".join(f"{n}-gram" for n in orders)
    print(f"| valid file | bytes | {header} | best n-gram | qinet |")
    print("|---|---:|" + "---:|" * (len(orders) + 2))
    for name in args.files.split(","):
        train = (Path(args.corpora) / f"{name}.train.txt").read_bytes()
        valid = (Path(args.corpora) / f"{name}.valid.txt").read_bytes()
        scores = [WittenBell(n).fit(train).bits_per_byte(valid) for n in orders]
        ours = f"{bits_per_byte(model, valid):.3f}" if model is not None else "—"
        cells = " | ".join(f"{s:.3f}" for s in scores)
        print(f"| {name} | {len(valid):,} | {cells} | {min(scores):.3f} | {ours} |", flush=True)


if __name__ == "__main__":
    main()
