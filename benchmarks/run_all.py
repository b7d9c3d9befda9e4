"""Every performance benchmark in one run: decode speed, then the LSP end to end.

    python benchmarks/run_all.py [--repeats 5] [--chars 400] [--json]     (make bench)

Prints the machine, the decode table (decode_speed.py), the LSP table (lsp_latency.py) and the
performance issue's targets with what this run measured. Everything runs on one thread (set
before NumPy is imported, inherited by the server process). The numbers in the README's
"Performance" section come from this script.
"""

from __future__ import annotations

# isort: off
import one_thread  # noqa: F401  (pins one thread before NumPy is imported)
# isort: on

import argparse
import asyncio
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import decode_speed  # noqa: E402
import lsp_latency  # noqa: E402
from qinet_lsp import __version__  # noqa: E402
from qinet_lsp.defaults import default_checkpoint_path  # noqa: E402


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import numba
        numba_version = numba.__version__
    except ImportError:
        numba_version = "absent"
    return {"cpu": cpu, "cores": os.cpu_count(), "load_1min": os.getloadavg()[0],
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba_version,
            "qinet_lsp": __version__}


def targets(decode: dict[str, Any], lsp: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, goal, measured, met) for each of the performance issue's targets."""
    shipped = [r for r in decode["contexts"] if r["model"].startswith("shipped")]
    at_lmax = max(shipped, key=lambda r: r["read"])
    speedup = at_lmax["step_bps"] / at_lmax["recompute_bps"]
    single = min(r["step_bps"] for r in shipped)
    t = lsp["typing"]
    return [
        ("step() vs full recompute at the full window", ">= 20x", f"{speedup:.0f}x", speedup >= 20),
        ("single stream, one thread (slowest context)", ">= 10,000 B/s", f"{single:,.0f} B/s",
         single >= 10_000),
        ("several candidates as one batch", "faster than serial",
         f"{decode['batch']['batch_bps'] / decode['batch']['serial_bps']:.2f}x",
         decode["batch"]["batch_bps"] > decode["batch"]["serial_bps"]),
        (f"inline completion p95 while typing at {t['cps']:g} chars/s", "<= 40 ms",
         f"{t['p95_ms']:.1f} ms", t["p95_ms"] <= 40),
        ("process start -> initialize (median)", "<= 1 s", f"{lsp['initialize_median_ms']:.0f} ms",
         lsp["initialize_median_ms"] <= 1000),
        ("peak RSS of the server", "<= 300 MB", f"{lsp['peak_rss_mb']:.0f} MB", lsp["peak_rss_mb"] <= 300),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    lsp_latency.add_arguments(ap)
    ap.add_argument("--repeats", type=int, default=5, help="decode benchmark: runs per row")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    checkpoint = args.checkpoint or str(default_checkpoint_path())
    decode = decode_speed.run(checkpoint, args.repeats)
    lsp = asyncio.run(lsp_latency.measure(lsp_latency.bench_settings(args),
                                          args.cps, args.chars, args.continue_chars, args.starts))
    res = {"machine": machine(), "decode": decode, "lsp": lsp,
           "targets": [dict(zip(("target", "goal", "measured", "met"), t, strict=True))
                       for t in targets(decode, lsp)]}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    m = res["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores (load {m['load_1min']:.1f}); Python "
             f"{m['python']}, NumPy {m['numpy']}, Numba {m['numba']}; qinet-lsp {m['qinet_lsp']}", "",
             "## Decode", "", *decode_speed.table(decode), "", "## Through the LSP", "",
             *lsp_latency.table(lsp), "", "## Targets", "", "| target | goal | measured | met |",
             "|---|---|---:|---|"]
    lines += [f"| {t} | {g} | {v} | {'yes' if ok else 'NO'} |" for t, g, v, ok in targets(decode, lsp)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
