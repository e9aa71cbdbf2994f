"""The edge route: models from the local store, run by the inference core on this device."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sdk.artifacts import signing
from sdk.artifacts.manifest import Manifest, read_manifest, read_manifest_bytes
from sdk.artifacts.store import ModelRef, Store
from sdk.client.raw import is_raw
from sdk.client.router import UP, Availability
from sdk.errors import AiaasError, ArtifactError, MissingDependency, ModelNotFound
from sdk.runtime import LoadedModel, load
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.processors import Processed, Processors

LOOKUP_TTL_S = 5.0


@functools.lru_cache(maxsize=1024)
def parse_ref(text: str) -> ModelRef:
    """``ModelRef.parse``, remembered: a routed call reads its model's name several times, and a ``ModelRef`` is
    frozen, so one parse may be shared. A bad reference is not remembered: it raises every time, as parse does."""
    return ModelRef.parse(text)


class LocalRoute:
    """Loads each model once, on first use, and keeps it. Thread-safe."""

    def __init__(self, store: Store, config: RuntimeConfig | None = None) -> None:
        self.store = store
        self.config = config or RuntimeConfig.from_env()
        self._models: dict[str, LoadedModel] = {}
        self._broken: dict[str, AiaasError] = {}
        # Loaded outside the router (an artifact folder, or a chosen precision): (source, precision) -> model.
        self._pinned: dict[tuple[str, str | None], LoadedModel] = {}
        # ref -> (monotonic time, availability, manifest, the error that makes it unavailable)
        self._lookups: dict[str, tuple[float, Availability, Manifest | None, AiaasError | None]] = {}
        # name -> (monotonic time, {"name/version": floor} or the error that kept the store from telling)
        self._floors: dict[str, tuple[float, dict[str, str] | Exception]] = {}
        self._lock = threading.Lock()

    def _lookup(self, ref: str) -> tuple[Availability, Manifest | None, AiaasError | None]:
        """(availability, manifest, why not) from the store, cached for LOOKUP_TTL_S: a store read per call
        would cost more than the model run of a small model. A model pulled meanwhile is seen within the TTL."""
        now = time.monotonic()
        cached = self._lookups.get(ref)
        if cached is not None and now - cached[0] < LOOKUP_TTL_S:
            return cached[1], cached[2], cached[3]
        found: tuple[Availability, Manifest | None, AiaasError | None]
        try:
            stored = self.store.resolve(ModelRef.parse(ref))
            # With trusted keys, a manifest they did not sign is ignored whole, its privacy floor included: a
            # lowered floor must not decide where data goes (the model counts as absent from this device).
            manifest, raw = read_manifest_bytes(stored.path)
            signing.require_trusted(stored.path, self.config.trusted_keys, ref=ref, manifest_bytes=raw)
            found = (UP, manifest, None)
        except (ModelNotFound, ArtifactError) as exc:
            found = (Availability(False, exc.message), None, exc)
        self._lookups[ref] = (now, *found)
        return found

    def availability(self, ref: str) -> Availability:
        if ref in self._models:
            return UP
        if ref in self._broken:
            return Availability(False, self._broken[ref].message)
        return self._lookup(ref)[0]

    def failure(self, ref: str) -> AiaasError | None:
        """The error that makes ``ref`` unavailable here (ModelNotFound, a trusted-keys refusal, a broken artifact),
        for the caller to raise when no other route can serve; None when it is available."""
        if ref in self._models:
            return None
        broken = self._broken.get(ref)
        error = broken if broken is not None else self._lookup(ref)[2]
        # The same object may be raised by many calls: start its traceback afresh each time.
        return error.with_traceback(None) if error is not None else None

    def floors(self, ref: str) -> dict[str, str] | Exception:
        """Every privacy floor this device knows for ``ref``'s model name, ``{"NAME/VERSION": floor}``, across every
        layer of the store and every version (whatever version or alias ``ref`` names, even one the device lacks);
        or the error that kept the store from telling (an unreadable manifest, a listing that failed). Cached for
        LOOKUP_TTL_S, like the lookups.

        Signatures do not matter here: a floor can only raise a call's level, so an unsigned or edited manifest's
        ``private`` still counts, and its ``public`` lowers nothing."""
        name = parse_ref(ref).name
        now = time.monotonic()
        cached = self._floors.get(name)
        if cached is not None and now - cached[0] < LOOKUP_TTL_S:
            return cached[1]
        found: dict[str, str] | Exception
        try:
            floors: dict[str, str] = {}
            for store in _layers(self.store):
                for version in store.versions(name):
                    where = f"{name}/{version}"
                    if where in floors:  # the same version in two layers: both count
                        where += f" in {store.label}"
                    floors[where] = _manifest(store, name, version).privacy_floor
            found = floors
        except (AiaasError, OSError, ValueError) as exc:
            found = exc
        self._floors[name] = (now, found)
        return found

    def manifest(self, ref: str) -> Manifest | None:
        """This device's manifest of ``ref``, read without loading the model; None when it is not here (or, under
        trusted keys, not signed by one of them)."""
        loaded = self._models.get(ref)
        return loaded.manifest if loaded is not None else self._lookup(ref)[1]

    def model(self, ref: str) -> LoadedModel:
        loaded = self._models.get(ref)
        if loaded is not None:
            return loaded
        with self._lock:
            if ref not in self._models:
                try:
                    self._models[ref] = load(ref, store=self.store, config=self.config)
                except (ArtifactError, MissingDependency) as exc:
                    # A tampered or unloadable artifact stays refused until the cache is repaired.
                    self._broken[ref] = exc
                    raise
                self._broken.pop(ref, None)
            return self._models[ref]

    def pinned(self, source: str | Path, precision: str | None) -> LoadedModel:
        """An artifact folder, or a model of the store in ``precision``, loaded once (outside the router's models:
        the same name may be routed at its default precision meanwhile)."""
        key = (str(source), precision)
        with self._lock:
            loaded = self._pinned.get(key)
            if loaded is None:
                loaded = self._pinned[key] = load(source, store=self.store, config=self.config, precision=precision)
            return loaded

    def run(self, ref: str, inputs: Any) -> tuple[dict[str, np.ndarray] | Processed, dict[str, float]]:
        """Tensors, validated and run; raw inputs (text, images) processed by the artifact's processors: a
        ``Processed`` (a model without them refuses raw input, naming what it takes)."""
        start = time.perf_counter()
        model = self.model(ref)
        loaded = time.perf_counter()
        if is_raw(inputs) or (model.processors is not None and model.processors.takes(inputs)):  # or a series window
            processed = model.process(inputs)
            return processed, {"load": (loaded - start) * 1000, "run": (time.perf_counter() - loaded) * 1000}
        feeds = model.validator(inputs)
        validated = time.perf_counter()
        outputs = model.run_validated(feeds)
        done = time.perf_counter()
        return outputs, {
            "load": (loaded - start) * 1000,
            "validate": (validated - loaded) * 1000,
            "run": (done - validated) * 1000,
        }

    def series(self, ref: str, inputs: Any) -> Processors | None:
        """The device's processors of ``ref`` when ``inputs`` are a raw series for it (numbers of a lower rank than
        the model's tensor), else None. A series is scaled on this device on either route: its window is numbers
        either way, the same bytes as the FP32 tensor, so nothing is gained by sending it raw. Built from the manifest
        alone (a series processor reads no file), so a call the cloud answers loads no model here."""
        if is_raw(inputs) or isinstance(inputs, Mapping):
            return None
        manifest = self.manifest(ref)
        if manifest is None or manifest.processors is None or manifest.processors.series is None:
            return None
        processors = Processors(
            manifest.processors, model=manifest.ref, inputs=manifest.inputs, labels=manifest.labels, files={}
        )
        return processors if processors.takes(inputs) else None

    def forget(self, ref: str) -> None:
        """Drop a loaded or refused model (after `sdk models pull` repaired it, say)."""
        with self._lock:
            model = self._models.pop(ref, None)
            self._broken.pop(ref, None)
            self._lookups.pop(ref, None)
            self._floors.pop(ref.partition("@")[0], None)
        if model is not None:
            model.close()

    def close(self) -> None:
        with self._lock:
            models = [*self._models.values(), *self._pinned.values()]
            self._models, self._pinned = {}, {}
        for model in models:
            model.close()


def _layers(store: Store) -> list[Store]:
    """The stores under ``store`` (a layered store's every layer, not only the first that has a name): a version in a
    lower layer is still on this device."""
    inner = getattr(store, "stores", None)
    if not isinstance(inner, list):
        return [store]
    return [layer for child in inner for layer in _layers(child)]


def _manifest(store: Store, name: str, version: str) -> Manifest:
    """One version's manifest, read without fetching the version (an S3 store reads the manifest object alone)."""
    read = getattr(store, "manifest", None)
    if callable(read):
        manifest = read(name, version)
        assert isinstance(manifest, Manifest)
        return manifest
    return read_manifest(store.resolve(ModelRef(name, version)).path)
