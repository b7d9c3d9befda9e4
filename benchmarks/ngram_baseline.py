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
from pathlib import Path

import numpy as np


def _keys(data: np.ndarray, k: int, upto: int) -> np.ndarray:
    """For positions k..upto-1: the k bytes before the position packed into an int64."""
    key = np.zeros(upto - k, dtype=np.int64)
    for j in range(k, 0, -1):  # oldest byte first
        key = (key << 8) | data[k - j:upto - j].astype(np.int64)
    return key


def _lookup(table: np.ndarray, counts: np.ndarray, query: np.ndarray) -> np.ndarray:
    """counts[table == query] for each query (0 where absent); table sorted and unique."""
    if len(table) == 0:
        return np.zeros(len(query), dtype=np.int64)
    at = np.minimum(np.searchsorted(table, query), len(table) - 1)
    return np.where(table[at] == query, counts[at], 0)


class WittenBell:
    """Counted with NumPy (sorted keys, not dictionaries), so 10 MB at order 7 takes seconds.
    Contexts are packed into int64: up to 7 context bytes plus the predicted byte."""

    def __init__(self, order: int) -> None:
        if not 1 <= order <= 8:
            raise ValueError("order must be 1..8")
        self.order = order  # n: the context is n - 1 bytes

    def fit(self, text: bytes) -> WittenBell:
        data = np.frombuffer(text, dtype=np.uint8)
        self.unigram = np.bincount(data, minlength=256).astype(np.float64) + 1.0  # add-one
        self.levels = []
        for k in range(1, self.order):  # context lengths 1 .. n-1
            h = _keys(data, k, len(data))
            hb = (h << 8) | data[k:].astype(np.int64)
            hb_keys, hb_counts = np.unique(hb, return_counts=True)
            h_keys, h_counts = np.unique(h, return_counts=True)
            # T(h): distinct bytes seen after h = the number of distinct (h, b) keys with that h
            h_of_hb, t_counts = np.unique(hb_keys >> 8, return_counts=True)
            assert np.array_equal(h_of_hb, h_keys)
            self.levels.append((hb_keys, hb_counts, h_keys, h_counts, t_counts))
        return self

    def bits_per_byte(self, text: bytes) -> float:
        data = np.frombuffer(text, dtype=np.uint8)
        p = self.unigram[data] / self.unigram.sum()
        for k, (hb_keys, hb_counts, h_keys, h_counts, t_counts) in enumerate(self.levels, start=1):
            if len(data) <= k:
                break
            h = _keys(data, k, len(data))
            c_h = _lookup(h_keys, h_counts, h).astype(np.float64)
            t_h = _lookup(h_keys, t_counts, h).astype(np.float64)
            c_hb = _lookup(hb_keys, hb_counts, (h << 8) | data[k:].astype(np.int64))
            seen = c_h > 0  # an unseen context backs off (keeps the shorter context's estimate)
            tail = p[k:]
            p[k:] = np.where(seen, (c_hb + t_h * tail) / np.maximum(c_h + t_h, 1.0), tail)
        return float(-np.log2(p).mean())


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
