"""End to end through the LSP: startup, typing latency, Continue Text, memory.

    python benchmarks/lsp_latency.py [--checkpoint PATH] [--cps 15] [--chars 400] [--json]

Starts the real `qinet-lsp` over stdio with a plain JSON-RPC client (the tests' bare client,
tests/raw_session.py: no LSP library in between, each response stamped when its frame is read)
and measures:

* startup: process start -> `initialize` answered (median of --starts fresh processes, and
  in the measured session); -> model ready (`qinet/status`); -> first inline completion;
* typing: a paragraph typed into a document at --cps characters per second, one incremental
  `didChange` per character followed by an `inlineCompletion` request, and — as editors do —
  `$/cancelRequest` for the previous request if it has not been answered when the next key
  comes. Latency is request -> response; "answered" are the requests not cancelled;
* Continue Text: wall time and characters per second of a 500-character continuation
  (`qinet.continueText`, applied through `workspace/applyEdit`);
* peak RSS of the server process (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.raw_session import Message, RawSession, end_of  # noqa: E402

URI = "file:///bench/letter.txt"
OPENING = ("Dear Margaret,\n\nThank you for your letter of the ninth, which reached me on a wet "
           "Tuesday morning just as I was setting out for the village. I have read it twice, and "
           "I confess that the news of your brother surprised me more than I can say. ")
TYPED = ("We had all supposed that he would stay in the city for another year at least, and "
         "that his plans for the house by the river were no more than talk. Now it seems that he "
         "has bought the land, hired a builder, and written to half the county about it. I do not "
         "know whether to admire him or to worry. When you next see him, tell him that the old "
         "orchard must be kept, whatever else he changes, and that I shall come to see it in the "
         "spring if the roads allow. The children are well and send their love to you all. ")

CAPABILITIES = {
    "general": {"positionEncodings": ["utf-16"]},
    "workspace": {"configuration": True, "applyEdit": True,
                  "workspaceEdit": {"documentChanges": True}, "didChangeConfiguration": {}},
    "textDocument": {"synchronization": {"didSave": False}, "inlineCompletion": {},
                     "completion": {"completionItem": {"snippetSupport": False}}},
    "window": {"workDoneProgress": False},
}


def _inline_params(text: str) -> dict[str, Any]:
    return {"textDocument": {"uri": URI}, "position": end_of(text, "utf-16"), "context": {"triggerKind": 2}}


def _items(r: Message) -> list[str]:
    res = r.get("result")
    items = res.get("items", []) if isinstance(res, dict) else (res or [])
    return [i["insertText"] for i in items]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def session(settings: dict[str, Any], cps: float, n_chars: int,
                  continue_chars: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    client = await RawSession.start(settings)
    await client.initialize(capabilities=CAPABILITIES)
    out["initialize_ms"] = (time.perf_counter() - t0) * 1000
    ready = await client.wait_notification("qinet/status",
                                           lambda p: p.get("state") in ("ready", "error"))
    if ready["state"] != "ready":
        raise RuntimeError(f"the server did not load the model: {ready['message']}")
    out["ready_ms"] = (time.perf_counter() - t0) * 1000

    text, version = OPENING, 1
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": URI, "languageId": "plaintext", "version": version, "text": text}})
    first = await client.call("textDocument/inlineCompletion", _inline_params(text))
    out["first_completion_ms"] = (client.received_at[json.dumps(first["id"])] - t0) * 1000
    out["first_completion_request_ms"] = client.latency_ms(first["id"])

    typed = (TYPED * (1 + n_chars // len(TYPED)))[:n_chars]
    interval = 1.0 / cps
    pending: tuple[int, asyncio.Future[Message]] | None = None
    cancelled_ids: set[int] = set()
    futures: list[asyncio.Future[Message]] = []
    start = time.perf_counter()
    for k, ch in enumerate(typed):
        await asyncio.sleep(max(0.0, start + k * interval - time.perf_counter()))
        if pending is not None and not pending[1].done():
            client.cancel(pending[0])
            cancelled_ids.add(pending[0])
        before = end_of(text, "utf-16")
        text, version = text + ch, version + 1
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": before, "end": before}, "text": ch}]})
        rid = client.next_id()
        pending = rid, client.request("textDocument/inlineCompletion", _inline_params(text), rid)
        futures.append(pending[1])
    responses = await asyncio.wait_for(asyncio.gather(*futures), 120)
    answered = [r for r in responses if r["id"] not in cancelled_ids and "error" not in r]
    with_text = [r for r in answered if _items(r)]
    lat = [client.latency_ms(r["id"]) for r in answered]
    out["typing"] = {
        "chars": len(typed), "cps": cps, "requests": len(responses),
        "answered": len(answered), "with_suggestion": len(with_text),
        "cancelled": len(cancelled_ids), "errors": sum(1 for r in responses if "error" in r
                                                      and r["id"] not in cancelled_ids),
        "p50_ms": _pct(lat, 0.5), "p95_ms": _pct(lat, 0.95), "max_ms": max(lat, default=float("nan")),
        "all_p50_ms": _pct([client.latency_ms(r["id"]) for r in responses], 0.5),
        "mean_suggestion_chars": statistics.mean(len(_items(r)[0]) for r in with_text) if with_text
        else 0.0,
    }
    status = await client.call("workspace/executeCommand", {"command": "qinet.status"})
    out["server_counts"] = {k: status["result"][k] for k in ("prefills", "steps")}

    t1 = time.perf_counter()
    cont = await client.call("workspace/executeCommand", {
        "command": "qinet.continueText", "arguments": [{
            "textDocument": {"uri": URI}, "position": end_of(text, "utf-16"),
            "settings": {"continue": {"maxChars": continue_chars, "stopAt": "none"}}}]})
    seconds = time.perf_counter() - t1
    written = (cont.get("result") or {}).get("text", "")
    out["continue"] = {"chars": len(written), "bytes": len(written.encode()), "seconds": seconds,
                       "bytes_per_s": len(written.encode()) / seconds if seconds else 0.0,
                       "applied": bool((cont.get("result") or {}).get("applied"))}
    out["peak_rss_mb"] = client.rss_mb(peak=True)
    await client.shutdown()
    await client.close()
    return out


async def initialize_ms(starts: int) -> list[float]:
    """Process start -> `initialize` answered, for `starts` fresh server processes."""
    times = []
    for _ in range(starts):
        t0 = time.perf_counter()
        client = await RawSession.start()
        await client.call("initialize", {"processId": None, "rootUri": None,
                                         "capabilities": CAPABILITIES})
        times.append((time.perf_counter() - t0) * 1000)
        await client.shutdown()
        await client.close()
    return times


async def measure(settings: dict[str, Any], cps: float, n_chars: int,
                  continue_chars: int, starts: int) -> dict[str, Any]:
    starts_ms = await initialize_ms(starts)
    res = await session(settings, cps, n_chars, continue_chars)
    res["initialize_starts_ms"] = starts_ms
    res["initialize_median_ms"] = statistics.median([*starts_ms, res["initialize_ms"]])
    res["settings"] = settings
    return res


def table(res: dict[str, Any]) -> list[str]:
    t, c = res["typing"], res["continue"]
    n = len(res["initialize_starts_ms"]) + 1
    return [
        "| measure | value |", "|---|---:|",
        f"| process start -> `initialize` answered (median of {n} starts) | "
        f"{res['initialize_median_ms']:.0f} ms |",
        f"| process start -> model ready | {res['ready_ms']:.0f} ms |",
        f"| process start -> first inline completion | {res['first_completion_ms']:.0f} ms |",
        f"| typing at {t['cps']:g} chars/s: requests / answered / cancelled | "
        f"{t['requests']} / {t['answered']} / {t['cancelled']} |",
        f"| inline latency p50 / p95 / max (answered) | {t['p50_ms']:.1f} / {t['p95_ms']:.1f} / "
        f"{t['max_ms']:.1f} ms |",
        f"| answered with a suggestion (mean length) | {t['with_suggestion']} "
        f"({t['mean_suggestion_chars']:.1f} chars) |",
        f"| server work while typing: prefills / steps | {res['server_counts']['prefills']} / "
        f"{res['server_counts']['steps']:,} |",
        f"| Continue Text, {c['chars']} chars | {c['seconds'] * 1000:.0f} ms "
        f"({c['bytes_per_s']:,.0f} B/s) |",
        f"| peak RSS of the server | {res['peak_rss_mb']:.0f} MB |",
    ]


def bench_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"checkpoint": args.checkpoint, "sampling": {"seed": 0},
            "inline": {"maxChars": args.max_chars, "candidates": args.candidates, "stopAt": "none"}}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--checkpoint", default="", help="model file (default: the shipped model)")
    ap.add_argument("--cps", type=float, default=15.0, help="typing speed, characters per second")
    ap.add_argument("--chars", type=int, default=400, help="characters typed")
    ap.add_argument("--max-chars", type=int, default=32, help="qinet.inline.maxChars")
    ap.add_argument("--candidates", type=int, default=1, help="qinet.inline.candidates")
    ap.add_argument("--continue-chars", type=int, default=500)
    ap.add_argument("--starts", type=int, default=4, help="extra fresh starts timed to initialize")


def main() -> None:
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = asyncio.run(measure(bench_settings(args), args.cps, args.chars,
                              args.continue_chars, args.starts))
    print(json.dumps(res, indent=2) if args.json else "\n".join(table(res)))


if __name__ == "__main__":
    main()
