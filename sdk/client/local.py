"""The edge route: models from the local store, run by the inference core on this device."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from sdk.artifacts.store import ModelRef, Store
from sdk.config import RuntimeConfig
from sdk.errors import ArtifactError, MissingDependency, ModelNotFound
from sdk.routing.router import Availability
from sdk.runtime import LoadedModel, load


class LocalRoute:
    """Loads each model once, on first use, and keeps it. Thread-safe."""

    def __init__(self, store: Store, config: RuntimeConfig | None = None) -> None:
        self.store = store
        self.config = config or RuntimeConfig.from_env()
        self._models: dict[str, LoadedModel] = {}
        self._broken: dict[str, str] = {}
        self._lock = threading.Lock()

    def availability(self, ref: str) -> Availability:
        if ref in self._models:
            return Availability(True)
        if ref in self._broken:
            return Availability(False, self._broken[ref])
        try:
            self.store.resolve(ModelRef.parse(ref))
        except ModelNotFound as exc:
            return Availability(False, exc.message)
        return Availability(True)

    def privacy_floor(self, ref: str) -> str | None:
        """The manifest's privacy floor, read without loading the model; None when the model is not here."""
        try:
            return self.store.resolve(ModelRef.parse(ref)).manifest().privacy_floor
        except (ModelNotFound, ArtifactError):
            return None

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
                    self._broken[ref] = exc.message
                    raise
                self._broken.pop(ref, None)
            return self._models[ref]

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
        if model is not None:
            model.close()

    def close(self) -> None:
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            model.close()
