"""The models a server serves: every model of a store (or a chosen few), each version loaded once and kept.

A store is a local folder, the models built into the package, an ``s3://`` store root (with the ``aws`` extra), or a
single artifact folder (local or ``s3://``, the usual ``MODEL_URI`` of a function). References resolve when first
used and stay fixed for the life of the process: a moved alias is picked up by the next process (a new Lambda
version, a restarted server), never in the middle of one.

An artifact that must not be loaded answers 422 naming the file inside the artifact (``model.onnx``,
``manifest.json``), never where the server keeps it: the messages of ``sdk.artifacts`` name full paths, which are
useful on the command line and none of a client's business (``public_paths``).

With a memory budget (``sdk.serving.budget``) models load on first use and the least recently used idle ones are
evicted to make room; a request holds its model through a ``Lease`` until its answer is computed, so a model is never
closed under a request, and an evicted model's next request loads it again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, TypeVar

from sdk._record import record
from sdk.artifacts import signing
from sdk.artifacts.manifest import MANIFEST_FILE, NAME_PATTERN, RESERVED_VERSIONS, VERSION_PATTERN, Manifest
from sdk.artifacts.store import ArtifactFolderStore as ArtifactFolderStore  # re-exported: serving's callers name it
from sdk.artifacts.store import ModelRef, Store, StoredModel, open_store
from sdk.errors import ArtifactError, MissingDependency, ModelNotFound, Overloaded
from sdk.runtime import LoadedModel, load
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.onnx_backend import OnnxRuntimeBackend
from sdk.serving.budget import WARM_MODEL, Cost, MemoryBudget, format_size, model_cost, resident_bytes

_T = TypeVar("_T")
logger = logging.getLogger("sdk.serving")


def open_model_store(
    uri: str | Path | None = None, *, include_builtin: bool | None = None, cache_dir: str | Path | None = None
) -> Store:
    """The store behind a ``--store``/``MODEL_URI`` value: ``sdk.artifacts.store.open_store`` (an artifact folder, a
    store root, or an ``s3://`` URI of either, downloaded into ``cache_dir`` with every sha256 verified)."""
    return open_store(uri, include_builtin=include_builtin, cache_dir=cache_dir)


class ModelRepository:
    """Resolves model references against a store and loads each version once (thread-safe)."""

    def __init__(
        self,
        store: Store,
        *,
        runtime: RuntimeConfig | None = None,
        models: Sequence[str | ModelRef] = (),
        budget: MemoryBudget | None = None,
        load_wait_s: float = 30.0,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self._defaults = {r.name: r for r in (m if isinstance(m, ModelRef) else ModelRef.parse(m) for m in models)}
        self._resolved: dict[tuple[str, str | None], StoredModel] = {}
        self._loaded: dict[Path, LoadedModel] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[Path, threading.Lock] = {}
        self._signatures: dict[int, Signature] = {}  # by id() of the loaded model
        self._ever_loaded: set[Path] = set()
        # Told of every load: (model, seconds, reload: this version was loaded before in this process). The metrics.
        self.on_load: Callable[[LoadedModel, float, bool], None] | None = None
        self.budget = budget
        self.load_wait_s = load_wait_s  # under a budget: how long a request may wait for memory to load its model
        self.on_evict: list[Callable[[LoadedModel], None]] = []  # told of every eviction (batcher, metrics)
        self._load_gate = threading.Lock()  # under a budget, one load at a time: its measured growth is its own
        self._costs: dict[Path, Cost] = {}

    def names(self) -> list[str]:
        """The names this server serves."""
        if self._defaults:
            return sorted(self._defaults)
        return self.store.names()

    def versions(self, name: str) -> list[str]:
        return self.store.versions(name)

    def resolve(self, name: str, version: str | None = None) -> StoredModel:
        key = (name, version)
        found = self._resolved.get(key)
        if found is not None:
            return found
        served = ", ".join(self.names()) or "no models"
        if not NAME_PATTERN.match(name) or (self._defaults and name not in self._defaults):
            raise ModelNotFound(f"unknown model {name!r}; this server serves: {served}")
        if version is not None and (not VERSION_PATTERN.match(version) or version in RESERVED_VERSIONS):
            raise ModelNotFound(f"{name} has no version {version!r}: not a valid version or alias name")
        ref = ModelRef(name, version) if version is not None else self._defaults.get(name, ModelRef(name))
        try:
            found = self.store.resolve(ref)
        except ModelNotFound as exc:
            # Our own words: the store's messages name server paths, which are no business of a client.
            if name not in self.store.names():
                raise ModelNotFound(f"unknown model {name!r}; this server serves: {served}") from None
            if version is None:
                raise ModelNotFound(f"model {name} has no servable default version", hint=exc.hint) from None
            versions = ", ".join(self.store.versions(name)) or "none"
            raise ModelNotFound(f"model {name} has no version or alias {version!r} (versions: {versions})") from None
        with self._lock:
            self._resolved[key] = found
        return found

    def manifest(self, name: str, version: str | None = None) -> Manifest:
        """The manifest the served version was loaded from: verified with it (every file's sha256, and the signature
        under trusted keys), never a second read of manifest.json from disk, which may have changed since. A version
        that fails verification publishes nothing (metadata included): its ArtifactError (422) is the answer."""
        return self.get(name, version).manifest

    def is_loaded(self, name: str, version: str | None = None) -> bool:
        stored = self._resolved.get((name, version))
        return stored is not None and stored.path in self._loaded

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The loaded model, loading it (verify, build the session, warm up) on first use only. Under a budget the
        model may be evicted once this returns: a request that runs it holds a ``lease`` instead."""
        if self.budget is not None:  # a use: it moves the model to the recently used end
            with self.lease(name, version) as lease:
                return lease.model
        stored = self.resolve(name, version)
        model = self._loaded.get(stored.path)
        return model if model is not None else self._load(stored)

    def _load(self, stored: StoredModel) -> LoadedModel:
        with self._lock:
            lock = self._load_locks.setdefault(stored.path, threading.Lock())
        with lock:  # one load per version, even when several requests ask at once
            model = self._loaded.get(stored.path)
            if model is None:
                start = time.perf_counter()
                runtime = self.runtime or RuntimeConfig.from_env()
                model = _answerable(lambda: load(stored, config=self.runtime), stored.path)
                if runtime.process_usage == "server":
                    _prepare(model)
                seconds = time.perf_counter() - start
                signature = _signature(stored.path, bool(runtime.trusted_keys))
                with self._lock:
                    self._loaded[stored.path] = model
                    self._signatures[id(model)] = signature
                    reload = stored.path in self._ever_loaded
                    self._ever_loaded.add(stored.path)
                if self.on_load is not None:
                    self.on_load(model, seconds, reload)
        return model

    def lease(self, name: str, version: str | None = None, *, wait_s: float | None = None) -> Lease:
        """The loaded model, held for one request (``with repository.lease(...) as lease: lease.model``): never
        evicted until released. Under a budget it loads the model when it is not loaded, evicting idle ones to
        make room, waiting up to ``wait_s`` (default ``load_wait_s``) for memory (then ``Overloaded``, 503)."""
        stored = self.resolve(name, version)
        budget = self.budget
        if budget is None:
            return Lease(self._loaded.get(stored.path) or self._load(stored))
        key = stored.path
        if budget.lease(key):
            return Lease(self._loaded[key], self._release(key))
        began = time.monotonic()
        deadline = began + (self.load_wait_s if wait_s is None else wait_s)
        if not self._load_gate.acquire(timeout=max(0.0, deadline - began)):
            raise _no_memory(budget)
        try:
            if budget.lease(key):  # loaded by the request that held the gate
                return Lease(self._loaded[key], self._release(key), time.monotonic() - began)
            cost = self._cost(stored)
            need = budget.need(key, cost)
            if need > budget.capacity:  # a version the start-up check did not see (asked for by version or alias)
                raise ArtifactError(
                    f"{name}@{stored.version} needs {format_size(need)} to load, more than this server's memory "
                    f"budget of {format_size(budget.capacity)}"
                )
            budget.reserve(key, need, deadline, self._evict)
            before = resident_bytes()
            try:
                model = self._load(stored)
            except BaseException:
                budget.cancel()
                raise
            budget.loaded(key, resident_bytes() - before, cost.settled)
            return Lease(model, self._release(key), time.monotonic() - began)
        finally:
            self._load_gate.release()

    def held(self, name: str, version: str | None = None) -> Lease | None:
        """``lease`` when the model is loaded already (never loads, never waits: safe on an event loop), else None."""
        stored = self.resolve(name, version)
        if self.budget is None:
            model = self._loaded.get(stored.path)
            return None if model is None else Lease(model)
        return Lease(self._loaded[stored.path], self._release(stored.path)) if self.budget.lease(stored.path) else None

    def _release(self, key: Hashable) -> Callable[[], None]:
        assert self.budget is not None
        return functools.partial(self.budget.release, key)

    def _evict(self, key: Hashable) -> None:
        """Close a loaded model that no request holds (the budget took it out of its accounting: nobody leases it)."""
        assert isinstance(key, Path)
        with self._lock:
            model = self._loaded.pop(key, None)
            if model is not None:
                self._signatures.pop(id(model), None)
        if model is None:
            return
        for hook in self.on_evict:
            hook(model)
        model.close()
        logger.info("%s: evicted (least recently used, memory budget)", model.manifest.ref)

    def check_budget(self) -> None:
        """Under a budget, ``ConfigError`` naming both sizes when a served model cannot load in it even alone
        (checked at start from the manifests: the artifact bytes each model will hold)."""
        if self.budget is None:
            return
        costs = {
            f"{name}@{stored.version}": self._cost(stored) for name in self.names() for stored in [self.resolve(name)]
        }
        if costs:
            dearest = max(costs, key=lambda ref: costs[ref].peak)
            self.budget.check_fits(dearest, costs[dearest])

    def _cost(self, stored: StoredModel) -> Cost:
        """What loading ``stored`` is expected to take, from its manifest (read once)."""
        cost = self._costs.get(stored.path)
        if cost is None:
            cost = self._costs[stored.path] = model_cost(_answerable(stored.manifest, stored.path))
        return cost

    def fill(self) -> list[LoadedModel]:
        """Under a budget, load the default versions (in name order) while they fit without evicting any: a
        Lambda's init loads what its memory holds, as it loads everything without a budget."""
        budget = self.budget
        if budget is None:
            return self.preload()
        for name in self.names():
            stored = self.resolve(name)
            if budget.used() + budget.need(stored.path, self._cost(stored)) > budget.capacity:
                break
            self.get(name)
        return self.loaded()

    def state(self, name: str, version: str | None = None) -> str:
        """``loaded``, ``evicted`` (loaded before, closed to make room) or ``unloaded`` (never loaded yet)."""
        stored = self._resolved.get((name, version))
        if stored is not None and stored.path in self._loaded:
            return "loaded"
        return "evicted" if stored is not None and stored.path in self._ever_loaded else "unloaded"

    def resolved(self, name: str, version: str | None = None) -> StoredModel | None:
        """The version ``name`` (at ``version``) resolved to, if it was resolved before; never resolves (cheap)."""
        return self._resolved.get((name, version))

    def signature(self, model: LoadedModel) -> Signature:
        """What the signature of a loaded model's manifest says (``Signature``)."""
        return self._signatures.get(id(model), UNCHECKED)

    def preload(self) -> list[LoadedModel]:
        """Load the default version of every served model (at startup, so that no request pays for it). Under a
        budget, check instead that each fits it, and load on first use."""
        if self.budget is not None:
            self.check_budget()
            runtime = self.runtime or RuntimeConfig.from_env()
            if runtime.process_usage == "server":
                _warm_runtime(runtime)
            return []
        return [self.get(name) for name in self.names()]

    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    def close(self) -> None:
        with self._lock:
            models, self._loaded = list(self._loaded.values()), {}
            self._signatures.clear()
        for model in models:
            model.close()
        if self.budget is not None:
            for key in self.budget.order():
                self.budget.forget(key)


def _warm_runtime(config: RuntimeConfig) -> None:
    """Under a budget, start ONNX Runtime now (its import, and its environment and thread pools, ~30 MiB in all, made
    by the first session of a process) on a one-node model: the runtime's own memory is the process's baseline, not
    the charge of whichever model happens to load first. A server only: a function's init (``fill``) loads a model
    right away, whose load imports the runtime while it reads and hashes the model's file (``sdk.runtime.engines``),
    ~40 ms of MiniLM int8 that a runtime imported first would leave unoverlapped. That first model is charged the
    runtime's memory too, on the safe side (measured again without it if it is evicted and loaded again)."""
    with contextlib.suppress(MissingDependency, ArtifactError):
        OnnxRuntimeBackend(WARM_MODEL, config, origin="a one-node warm-up model").close()


def _no_memory(budget: MemoryBudget) -> Overloaded:
    return Overloaded(
        f"no memory to load this model within the budget of {format_size(budget.capacity)}: other models are "
        "loading or in use; retry shortly",
        retry_after=1,
    )


@record(frozen=False)
class Lease:
    """A model held for one request (``ModelRepository.lease``): released when the ``with`` block ends.
    ``load_s``: how long this request waited for its model to load (None: it was loaded already)."""

    model: LoadedModel
    _release: Callable[[], None] | None = field(default=None, repr=False)
    load_s: float | None = None

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@record
class Signature:
    """A served version's signature, as `GET /v2/models` shows it. ``verified``: signed by a key this server trusts
    and checked when loaded (with trusted keys, nothing else loads); ``signed``: signed, and not checked here (no
    trusted keys); ``unsigned``."""

    status: str  # verified | signed | unsigned | unknown
    key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "key_id": self.key_id}


UNCHECKED = Signature("unknown")


def _signature(folder: Path, trusted: bool) -> Signature:
    """The signature block of the folder's manifest, for display: the trust decision was the runtime's, on the bytes
    it parsed, before loading (with trusted keys an unsigned or foreign manifest never gets here)."""
    try:
        document = json.loads((folder / MANIFEST_FILE).read_bytes())
    except (OSError, ValueError):
        return UNCHECKED
    found = signing.status(document) if isinstance(document, dict) else signing.SignatureStatus(signed=False)
    if not found.signed:
        return Signature("unsigned")
    return Signature("verified" if trusted else "signed", found.key_id or None)


def _prepare(model: LoadedModel) -> None:
    """Load the model's input processor (the tokenizer, Pillow) with the model, so that no request pays for it: in a
    long-lived server only. A function's init or a one-shot process builds it on its first raw request instead (a
    cold start that is sent tensors never pays for it: ~35 ms of MiniLM's tokenizer.json, which adds nothing to a
    raw cold start, whose first request pays it instead of the init). A missing extra is not fatal: the model still
    serves tensors, and a raw request is answered 501 naming it (a server also logs it when the model loads)."""
    if model.processors is None:
        return
    try:
        model.processors.prepare()
    except MissingDependency as exc:
        logger.warning("%s: raw %s input unavailable: %s", model.manifest.ref, model.processors.kind, exc.message)


# An absolute path or an s3:// URI inside a message: what is left of it is its last component.
_SERVER_PATH = re.compile(r"(?:s3://|(?<![\w.~-])/)(?:[^\s/'\"]+/)+(?=[^\s/'\"]*)")


def public_paths(text: str, folder: Path) -> str:
    """``text`` with the artifact ``folder`` left out of the paths it names (``/srv/store/m/1/model.onnx`` ->
    ``model.onnx``; the folder itself -> ``the artifact folder``), and any other absolute path or s3:// URI cut to
    its last component."""
    for prefix in dict.fromkeys((str(folder), str(folder.resolve()))):
        text = text.replace(prefix + os.sep, "").replace(prefix, "the artifact folder")
    return _SERVER_PATH.sub("", text)


def _answerable(step: Callable[[], _T], folder: Path) -> _T:
    """``step()``; an ArtifactError it raises keeps its class and status, with server paths taken out of its text."""
    try:
        return step()
    except ArtifactError as exc:
        exc.message = public_paths(exc.message, folder)
        exc.hint = public_paths(exc.hint, folder) if exc.hint else exc.hint
        exc.args = (exc.message,)
        raise
