"""The edge route: models from the local store, run by the inference core on this device."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from sdk.artifacts import signing
from sdk.artifacts.manifest import Manifest, read_manifest_bytes
from sdk.artifacts.store import ModelRef, Store
from sdk.client.router import Availability
from sdk.config import RuntimeConfig
from sdk.errors import AiaasError, ArtifactError, MissingDependency, ModelNotFound
from sdk.runtime import LoadedModel, load

LOOKUP_TTL_S = 5.0


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
            found = (Availability(True), manifest, None)
        except (ModelNotFound, ArtifactError) as exc:
            found = (Availability(False, exc.message), None, exc)
        self._lookups[ref] = (now, *found)
        return found

    def availability(self, ref: str) -> Availability:
        if ref in self._models:
            return Availability(True)
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

    def privacy_floor(self, ref: str) -> str | None:
        """The manifest's privacy floor, read without loading the model; None when the model is not here."""
        manifest = self.manifest(ref)
        return manifest.privacy_floor if manifest is not None else None

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

    def run(self, ref: str, inputs: Any) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        start = time.perf_counter()
        model = self.model(ref)
        loaded = time.perf_counter()
        feeds = model.validator(inputs)
        validated = time.perf_counter()
        outputs = model.run_validated(feeds)
        done = time.perf_counter()
        return outputs, {
            "load": (loaded - start) * 1000,
            "validate": (validated - loaded) * 1000,
            "run": (done - validated) * 1000,
        }

    def forget(self, ref: str) -> None:
        """Drop a loaded or refused model (after `sdk models pull` repaired it, say)."""
        with self._lock:
            model = self._models.pop(ref, None)
            self._broken.pop(ref, None)
            self._lookups.pop(ref, None)
        if model is not None:
            model.close()

    def close(self) -> None:
        with self._lock:
            models = [*self._models.values(), *self._pinned.values()]
            self._models, self._pinned = {}, {}
        for model in models:
            model.close()
