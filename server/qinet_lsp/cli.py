"""`qinet-lsp` command line: serve (the default: LSP on stdio), generate, train, eval,
tune-window, average, info."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .checkpoint import CheckpointError, load_checkpoint, load_runtime
from .config import ModelConfig
from .defaults import default_checkpoint_path
from .generation import GenerationConfig, start
from .sampling import SamplingConfig
from .stopping import StopAt, StopRules

log = logging.getLogger("qinet_lsp")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qinet-lsp", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    p.add_argument("--log-file", default=None, help="also write the log to this file")
    p.add_argument("--tcp", action="store_true", help="serve LSP over TCP (debugging) instead of stdio")
    p.add_argument("--stdio", action="store_true", help="serve LSP on stdio (the default; accepted "
                   "because many clients pass it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2087)
    sub = p.add_subparsers(dest="command")
    sub.add_parser("serve", help="speak LSP on stdio (the default with no command)")

    g = sub.add_parser("generate", help="print a sampled continuation of PROMPT")
    g.add_argument("prompt")
    g.add_argument("--checkpoint", default=None, help="model file (default: the shipped model)")
    g.add_argument("--max-new-bytes", type=int, default=200)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--top-p", type=float, default=0.95)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--stop-at", choices=[s.value for s in StopAt], default="none")
    g.add_argument("--stop", action="append", default=[], metavar="STR",
                   help="stop before this string (repeatable)")
    g.add_argument("--context-bytes", type=int, default=None,
                   help="use at most this many bytes of the prompt (default: the model window)")

    t = sub.add_parser("train", help="train a model on text files (see README)")
    t.add_argument("--lang", action="append", default=[], metavar="LABEL=PATH",
                   help="training text with a language label (file or folder; repeatable)")
    t.add_argument("--text", action="append", default=[], metavar="PATH",
                   help="training text without a language label (repeatable)")
    t.add_argument("--valid", action="append", default=[], metavar="[LABEL=]PATH")
    t.add_argument("--out", required=True)
    t.add_argument("--init", default=None, help="fine-tune this checkpoint")
    t.add_argument("--d-model", type=int, default=128)
    t.add_argument("--max-len", type=int, default=512)
    t.add_argument("--dilations", default="1,2,4,8,16,32,64,128")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--size-power", type=float, default=0.5,
                   help="sample each file with weight bytes**POWER (1: by size, 0: equally)")
    t.add_argument("--eval-every", type=int, default=250)
    t.add_argument("--max-minutes", type=float, default=0.0)
    t.add_argument("--keep-saves", type=int, default=0, metavar="N",
                   help="also keep the last N saves as OUT.stepNNNNNN.pt (for `average`)")
    t.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1…")

    e = sub.add_parser("eval", help="bits per byte of text files, scored strictly causally")
    e.add_argument("files", nargs="+", metavar="[LABEL=]FILE",
                   help="text files; with a language label, language-ID accuracy is measured too")
    e.add_argument("--checkpoint", default=None)
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.add_argument("--keystrokes", type=int, default=0, metavar="N",
                   help="also simulate typing the first N characters of each file with greedy "
                        "ghost text and report the keystrokes saved")

    for name, what, summary in (
            ("tune-window", "the best window",
             "measure which decoding window (context and refill bytes) reads a checkpoint best on "
             "held-out text; --write stores the choice (the cheapest to decode within 0.002 "
             "bits/byte of the best)"),
            ("calibrate", "the temperatures",
             "fit one temperature per language on held-out text so the model is not "
             "over-confident where it over-fitted; --write stores them")):
        h = sub.add_parser(name, help=summary)
        h.add_argument("checkpoint")
        h.add_argument("files", nargs="+", metavar="FILE", help="held-out text (not training text)")
        h.add_argument("--max-bytes", type=int, default=200_000,
                       help="use at most this many bytes of each file (default 200000)")
        h.add_argument("--write", action="store_true", help=f"store {what} in the checkpoint")
        h.add_argument("--json", action="store_true")

    a = sub.add_parser("average", help="average the weights of several saves of one training run")
    a.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT")
    a.add_argument("--out", required=True)

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("checkpoint", nargs="?", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    serving = args.command in (None, "serve")
    # Editors show a server's stderr as errors: only warnings there unless -v.
    level = logging.DEBUG if args.verbose else logging.WARNING if serving else logging.INFO
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log_file:
        handlers.append(logging.FileHandler(args.log_file, encoding="utf-8"))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers)
    if serving:
        return _serve(args)
    try:
        if args.command == "generate":
            return _generate(args)
        if args.command == "train":
            return _train(args)
        if args.command == "eval":
            return _eval(args)
        if args.command == "tune-window":
            return _tune_window(args)
        if args.command == "calibrate":
            return _calibrate(args)
        if args.command == "average":
            return _average(args)
        if args.command == "info":
            return _info(args)
    except CheckpointError as exc:
        log.error("%s", exc)
        return 2
    except ValueError as exc:
        log.error("invalid argument: %s", exc)
        return 2
    except OSError as exc:
        log.error("cannot read %s: %s", exc.filename or "a file", exc.strerror or exc)
        return 2
    return 2


def _serve(args: argparse.Namespace) -> int:
    from .server import server

    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return server.exit_code


def _generate(args: argparse.Namespace) -> int:
    loaded = load_runtime(args.checkpoint or default_checkpoint_path())
    cfg = GenerationConfig(
        max_new_bytes=args.max_new_bytes, seed=args.seed,
        sampling=SamplingConfig(args.temperature, args.top_k, args.top_p),
        stop=StopRules(StopAt(args.stop_at), tuple(args.stop)))
    out = sys.stdout
    for piece in start(loaded.model, args.prompt, cfg, args.context_bytes):
        out.write(piece)
        out.flush()
    out.write("\n")
    return 0


def _labelled(spec: str) -> tuple[str, str | None]:
    label, sep, path = spec.partition("=")
    return (path, label) if sep and not Path(spec).exists() else (spec, None)


def _train(args: argparse.Namespace) -> int:
    import torch

    from .training import TrainConfig, load_sources, train

    if args.threads:
        torch.set_num_threads(args.threads)
    specs = [_labelled(s) for s in args.lang] + [(p, None) for p in args.text]
    sources = load_sources(specs)
    valid = load_sources([_labelled(s) for s in args.valid]) if args.valid else None
    model_cfg = ModelConfig(d_model=args.d_model, max_len=args.max_len,
                            dilations=tuple(int(x) for x in args.dilations.split(",")))
    cfg = TrainConfig(seq_len=args.max_len, batch_size=args.batch_size, steps=args.steps,
                      lr=args.lr, warmup=args.warmup, seed=args.seed, size_power=args.size_power,
                      eval_every=args.eval_every,
                      max_minutes=args.max_minutes, device=args.device,
                      keep_saves=args.keep_saves)
    result = train(sources, args.out, model_cfg, cfg, valid, args.init,
                   on_progress=lambda r: log.info("%s", json.dumps(r)))
    log.info("wrote %s after %d steps (%d parameters)", args.out, result["steps"],
             result["parameters"])
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import byte_logprobs, keystroke_savings, language_accuracy

    loaded = load_checkpoint(args.checkpoint or default_checkpoint_path())
    files, total_bits, total_bytes = [], 0.0, 0
    for spec in args.files:
        name, label = _labelled(spec)
        data = Path(name).read_bytes()
        bits = float(-byte_logprobs(loaded.model, data).sum()) if data else 0.0
        report: dict[str, object] = {"path": name, "bytes": len(data),
                                     "bits_per_byte": round(bits / len(data), 4) if data else None}
        if label is not None and label in loaded.languages and data:
            acc = language_accuracy(loaded.model, data, loaded.languages.index(label))
            report["language"] = label
            report["language_accuracy"] = {str(k): round(v, 4) for k, v in acc.items()}
        if args.keystrokes and data:
            text = data.decode("utf-8", errors="replace")[: args.keystrokes]
            report["keystrokes"] = keystroke_savings(loaded.model, text)
        files.append(report)
        total_bits, total_bytes = total_bits + bits, total_bytes + len(data)
    overall = round(total_bits / total_bytes, 4) if total_bytes else None
    if args.json:
        sys.stdout.write(json.dumps({"checkpoint": loaded.path, "files": files,
                                     "bits_per_byte": overall}, indent=2) + "\n")
    else:
        for f in files:
            extra = f"\tlanguage ID {f['language_accuracy']}" if "language_accuracy" in f else ""
            if "keystrokes" in f:
                extra += f"\tkeystrokes saved {f['keystrokes']['saved']:.1%}"  # type: ignore[index]
            sys.stdout.write(f"{f['bits_per_byte']}\t{f['bytes']}\t{f['path']}{extra}\n")
        sys.stdout.write(f"{overall}\t{total_bytes}\toverall\n")
    return 0


def _tune_window(args: argparse.Namespace) -> int:
    from .checkpoint import save_checkpoint
    from .evaluation import choose_window, tune_window, with_window

    loaded = load_checkpoint(args.checkpoint)
    texts = [Path(name).read_bytes()[: args.max_bytes] for name in args.files]
    before = loaded.model.config
    results = tune_window(loaded.model, texts)
    best = choose_window(results)
    current = next((r for r in results if (r["context_bytes"], r["refill_bytes"])
                    == (before.window_bytes, before.refill_keep)), None)
    if args.json:
        sys.stdout.write(json.dumps({"checkpoint": loaded.path, "bytes": sum(map(len, texts)),
                                     "current": current, "chosen": best, "results": results},
                                    indent=2) + "\n")
    else:
        sys.stdout.write("context_bytes\trefill_bytes\tbits_per_byte\n")
        for r in results:
            mark = "\tchosen" if r is best else ""
            sys.stdout.write(f"{r['context_bytes']}\t{r['refill_bytes']}\t{r['bits_per_byte']:.4f}{mark}\n")
    if args.write:
        with_window(loaded.model, int(best["context_bytes"]), int(best["refill_bytes"]))
        meta = {**loaded.metadata, "window_tuned_on": [Path(n).name for n in args.files]}
        save_checkpoint(args.checkpoint, loaded.model, loaded.languages, meta)
        log.info("wrote %s: windows of %d bytes, refilled from the last %d", args.checkpoint,
                 best["context_bytes"], best["refill_bytes"])
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .calibration import calibrate, with_temperatures
    from .checkpoint import save_checkpoint

    loaded = load_checkpoint(args.checkpoint)
    before = loaded.model.config.temperatures
    texts = [(name, Path(name).read_bytes()[: args.max_bytes]) for name in args.files]
    report = calibrate(loaded.model, texts)
    report = {"checkpoint": loaded.path, "languages": loaded.languages,
              "previous_temperatures": list(before), **report}
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        temps = ", ".join(f"{lang} {t:.3f}" for lang, t in
                          zip(loaded.languages, report["temperatures"], strict=True))
        sys.stdout.write(f"temperatures: {temps}\n"
                         "file\tbytes\tuncalibrated\tcalibrated\tcross_fitted\n")
        for f in [*report["files"], {**report, "path": "all"}]:
            sys.stdout.write(f"{f['path']}\t{f['bytes']}\t{f['uncalibrated']:.4f}\t"
                             f"{f['calibrated']:.4f}\t{f['cross_fitted']:.4f}\n")
    if args.write:
        with_temperatures(loaded.model, tuple(report["temperatures"]))
        meta = {**loaded.metadata, "calibrated_on": [Path(n).name for n in args.files]}
        save_checkpoint(args.checkpoint, loaded.model, loaded.languages, meta)
        log.info("wrote %s: temperatures %s", args.checkpoint, report["temperatures"])
    return 0


def _average(args: argparse.Namespace) -> int:
    from .averaging import average_checkpoints
    from .checkpoint import save_checkpoint

    averaged = average_checkpoints(args.checkpoints)
    save_checkpoint(args.out, averaged.model, averaged.languages, averaged.metadata)
    log.info("wrote %s: the mean of %d checkpoints", args.out, len(args.checkpoints))
    return 0


def _info(args: argparse.Namespace) -> int:
    from .model import count_parameters

    loaded = load_checkpoint(args.checkpoint or default_checkpoint_path())
    meta = {k: v for k, v in loaded.metadata.items() if k != "history"}
    info = {"path": loaded.path, "kind": loaded.kind, "config": loaded.model.config.__dict__,
            "parameters": count_parameters(loaded.model), "languages": loaded.languages,
            "metadata": meta}
    sys.stdout.write(json.dumps(info, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
