"""The engine: owns the model, runs all model work on one worker thread, caches per-document
decoder state, cancels stale work. No LSP types here; the server translates.

* The model loads on a background thread; until it is ready, requests return empty results.
  A new checkpoint replaces the old model only once it has loaded; a failed load keeps the
  old one and reports the error.
* Every request runs on the worker with a cancel event, checked between bytes. A newer
  request of the same kind for the same document sets the older one's event; so does the
  awaiting coroutine being cancelled (``$/cancelRequest``).
* Each document keeps an ``IncrementalDecoder`` positioned at the last context it served;
  when the new context is the old one plus a few typed bytes, only those bytes are stepped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .checkpoint import CheckpointError, LoadedModel, load_runtime
from .config import CLS_ID
from .decoding import BULK_FEED, Decoder, make_decoder, max_context_bytes
from .defaults import default_checkpoint_path
from .generation import Generation, GenerationConfig, encode_context, generate_candidates
from .runtime import Runtime
from .sampling import SamplingConfig
from .settings import SamplingSettings, Settings
from .stopping import StopAt, StopRules, trim_to_word_end
from .wordbeam import WordCandidate, complete_word

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_DOCS = 32
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class Status:
    state: str  # "loading" | "ready" | "error"
    message: str
    checkpoint: str = ""


@dataclass(frozen=True)
class Language:
    label: str
    confidence: float
    scores: dict[str, float]


def generation_config(sampling: SamplingSettings, max_chars: int, stop_at: str,
                      seed_offset: int = 0) -> GenerationConfig:
    seed = None if sampling.seed is None else sampling.seed + seed_offset
    return GenerationConfig(
        max_new_bytes=4 * max_chars, seed=seed,
        sampling=SamplingConfig(sampling.temperature, sampling.top_k, sampling.top_p),
        stop=StopRules(StopAt(stop_at), max_chars=max_chars))


def without_following_text(text: str, after: str) -> str:
    """Drop the part of a suggestion that the document already has after the cursor."""
    after = after.rstrip()
    if after and after.startswith(text.strip()):
        return ""
    for k in range(min(len(text), len(after)), 1, -1):
        if text.endswith(after[:k]):
            return text[:-k]
    return text


class InjectedFault(RuntimeError):
    """Raised on purpose by the test-only fault injection."""


class Engine:
    def __init__(self, on_status: Callable[[Status], None] | None = None,
                 fault_inject: str = "") -> None:
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="qinet-model")
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="qinet-load")
        self._loaded: LoadedModel[Runtime] | None = None
        self._docs: OrderedDict[str, _DocState] = OrderedDict()
        self._active: dict[tuple[str, str], threading.Event] = {}
        self._on_status = on_status or (lambda s: None)
        self._wanted = ""
        self._fault_inject = fault_inject  # tests: work for a document whose URI has it fails
        self.status = Status("loading", "no model yet")
        self.stats = {"prefills": 0, "steps": 0}

    # ---- model loading --------------------------------------------------------------

    def load(self, checkpoint: str) -> bool:
        """Start loading `checkpoint` ('' = the shipped default) unless it is already wanted."""
        path = checkpoint or str(default_checkpoint_path())
        if path == self._wanted:
            return False
        self._wanted = path
        self._set_status(Status("loading", f"loading {Path(path).name}", path))
        self._loader.submit(self._load, path)
        return True

    def _load(self, path: str) -> None:
        try:
            loaded = load_runtime(path)
            warm_up(loaded.model)
        except Exception as exc:  # whatever the file does, the loader must report it
            if not isinstance(exc, CheckpointError):
                log.warning("loading %s failed", path, exc_info=True)
                exc = CheckpointError(f"{path} could not be loaded ({type(exc).__name__}: "
                                      f"{str(exc)[:200]}).\n---> HINT: check the file, or "
                                      "leave the setting empty to use the shipped default model.")
            if path == self._wanted:
                keep = f" Still using {Path(self._loaded.path).name}." if self._loaded else ""
                self._set_status(Status("error", f"{exc}{keep}", path))
            return
        if path != self._wanted:  # superseded while loading
            return
        self._loaded = loaded
        self._set_status(Status("ready", f"model {Path(path).name} ready ({loaded.kind}, "
                                f"{len(loaded.languages)} languages)", path))

    def _set_status(self, status: Status) -> None:
        self.status = status
        (log.warning if status.state == "error" else log.info)("%s", status.message)
        self._on_status(status)

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    # ---- running work ---------------------------------------------------------------

    async def _run(self, doc: str, kind: str, fn: Callable[[Cancelled], T], default: T) -> T:
        loaded = self._loaded
        if loaded is None:
            return default
        key = (doc, kind)
        if (older := self._active.get(key)) is not None:
            older.set()  # a newer request for this document supersedes it
        event = threading.Event()
        self._active[key] = event
        if self._fault_inject and self._fault_inject in doc:
            fn = _failing_after(fn)
        try:
            return await asyncio.wrap_future(self._worker.submit(fn, event.is_set))
        except asyncio.CancelledError:
            event.set()
            raise
        finally:
            if self._active.get(key) is event:
                del self._active[key]

    def _decoder_for(self, doc: str, before: str, settings: Settings) -> Decoder:
        """The document's cached decoder, advanced to the text before the cursor as cheaply
        as possible: if that text is the cached text plus a few typed characters, only they
        are stepped; anything else (a jump, a deletion, a new model) re-prefills."""
        assert self._loaded is not None
        model = self._loaded.model
        limit = max_context_bytes(model)
        cached = self._docs.pop(doc, None)
        if cached is not None and cached.decoder.model is not model:
            cached = None
        typed = cached.typed_since(before) if cached and settings.context_chars >= limit else None
        if cached is not None and typed is not None:
            data = typed.encode("utf-8", errors="replace")
            cached.decoder.feed(data)
            self.stats["steps"] += len(data)
            dec = cached.decoder
        else:
            dec = cached.decoder if cached else make_decoder(model)
            dec.reset(encode_context(before[-settings.context_chars:], limit))
            self.stats["prefills"] += 1
        self._docs[doc] = _DocState(dec, len(before), before[-_TAIL_CHECK:])
        if len(self._docs) > MAX_DOCS:
            self._docs.popitem(last=False)
        return dec

    def _context(self, before: str, settings: Settings) -> bytes:
        assert self._loaded is not None
        limit = max_context_bytes(self._loaded.model)
        return encode_context(before[-settings.context_chars:], limit)

    # ---- features -------------------------------------------------------------------

    async def inline(self, doc: str, before: str, after: str, settings: Settings) -> list[str]:
        def work(cancelled: Cancelled) -> list[str]:
            dec = self._decoder_for(doc, before, settings)
            cfgs = [generation_config(settings.sampling, settings.inline.max_chars,
                                      settings.inline.stop_at, n)
                    for n in range(settings.inline.candidates)]
            items: list[str] = []
            for cand in generate_candidates(dec, cfgs, cancelled):  # one batch
                if cand.stop_reason == "cancelled":
                    return []
                text = cand.text
                if cand.stop_reason in ("max_chars", "max_bytes"):
                    text = trim_to_word_end(text)
                text = without_following_text(text, after)
                if text.strip() and text not in items:
                    items.append(text)
            return items
        return await self._run(doc, "inline", work, [])

    async def words(self, doc: str, before: str, settings: Settings) -> list[WordCandidate]:
        def work(cancelled: Cancelled) -> list[WordCandidate]:
            assert self._loaded is not None
            context = self._context(before, settings)
            return complete_word(self._loaded.model, context, settings.completion.max_items,
                                 cancelled=cancelled)
        return await self._run(doc, "words", work, [])

    async def continue_text(self, doc: str, before: str, settings: Settings,
                            on_text: Callable[[str], None], cancelled: Cancelled) -> tuple[str, str]:
        """(text, stop reason); reason "not_ready" if no model is loaded."""
        def work(superseded: Cancelled) -> tuple[str, str]:
            dec = self._decoder_for(doc, before, settings)
            cfg = generation_config(settings.sampling, settings.continue_.max_chars,
                                    settings.continue_.stop_at)
            gen = Generation(dec.fork(), cfg, lambda: superseded() or cancelled())
            for piece in gen:
                on_text(piece)
            text = gen.text
            if gen.stop_reason in ("max_chars", "max_bytes"):
                text = trim_to_word_end(text)
            return text, gen.stop_reason
        return await self._run(doc, "continue", work, ("", "not_ready"))

    async def detect_language(self, doc: str, before: str, settings: Settings) -> Language | None:
        def work(cancelled: Cancelled) -> Language | None:
            assert self._loaded is not None
            dec = self._decoder_for(doc, before, settings)
            z = dec.lang_logits().astype(np.float64)
            e = np.exp(z - z.max())
            probs = (e / e.sum()).tolist()
            scores = {self._loaded.language(i): p for i, p in enumerate(probs)}
            best = max(scores, key=lambda k: scores[k])
            return Language(best, scores[best], scores)
        return await self._run(doc, "language", work, None)

    def forget(self, doc: str) -> None:
        """Drop a closed document's cached state (runs on the worker, like all cache access)."""
        self._worker.submit(self._docs.pop, doc, None)

    def info(self) -> dict[str, Any]:
        loaded = self._loaded
        return {"state": self.status.state, "message": self.status.message,
                "checkpoint": loaded.path if loaded else "", **self.stats}

    def shutdown(self) -> None:
        for event in self._active.values():
            event.set()
        self._worker.shutdown(wait=False, cancel_futures=True)
        self._loader.shutdown(wait=False, cancel_futures=True)


def _failing_after(fn: Callable[[Cancelled], T]) -> Callable[[Cancelled], T]:
    """`fn`, then an exception (test-only fault injection, on the worker thread)."""
    def run(cancelled: Cancelled) -> T:
        fn(cancelled)
        raise InjectedFault("injected fault (QINET_LSP_FAULT_INJECT), for tests")
    return run


def warm_up(model: Runtime) -> None:
    """Run one prefill and one step so the first request does not pay for importing and
    compiling (or loading the cached) decode kernel."""
    if not model.legacy:
        _, state = model.prefill(np.array([[CLS_ID, 32]], dtype=np.int64))
        model.step(np.array([32], dtype=np.int64), state)


_TAIL_CHECK = 1024  # characters compared to recognise "the same text, plus typing"


@dataclass
class _DocState:
    decoder: Decoder
    before_len: int  # length of the text before the cursor it was positioned at
    before_tail: str  # the last _TAIL_CHECK characters of that text

    def typed_since(self, before: str) -> str | None:
        """What was typed since, if `before` is the old text plus at most BULK_FEED chars."""
        grown = len(before) - self.before_len
        if not 0 <= grown <= BULK_FEED:
            return None
        if before[self.before_len - len(self.before_tail):self.before_len] != self.before_tail:
            return None
        return before[self.before_len:]
