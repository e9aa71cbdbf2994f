"""The models a server serves: every model of a store (or a chosen few), each version loaded once and kept.

A store is a local folder, the models built into the package, an ``s3://`` store root (with the ``aws`` extra), or a
single artifact folder (local or ``s3://``, the usual ``MODEL_URI`` of a function). References resolve when first
used and stay fixed for the life of the process: a moved alias is picked up by the next process (a new Lambda
version, a restarted server), never in the middle of one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdk.artifacts.manifest import (
    MANIFEST_FILE,
    NAME_PATTERN,
    RESERVED_VERSIONS,
    VERSION_PATTERN,
    Manifest,
    read_manifest,
)
from sdk.artifacts.store import ModelRef, Store, StoredModel, open_store
from sdk.config import RuntimeConfig
from sdk.errors import ModelNotFound
from sdk.runtime import LoadedModel, load


class ArtifactFolderStore:
    """A store holding exactly one artifact folder (a function's ``MODEL_URI`` that names one model version)."""

    def __init__(self, folder: str | Path, *, label: str | None = None) -> None:
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.label = label or str(self.folder)

    def names(self) -> list[str]:
        return [self.manifest.name]

    def versions(self, name: str) -> list[str]:
        return [self.manifest.version] if name == self.manifest.name else []

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        return {}

    def resolve(self, ref: str | ModelRef) -> StoredModel:
        parsed = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        if parsed.name != self.manifest.name:
            raise ModelNotFound(f"unknown model {parsed.name!r}; {self.label} holds only {self.manifest.name}")
        if parsed.ref not in (None, self.manifest.version):
            raise ModelNotFound(
                f"{parsed.name} has no version {parsed.ref!r} here; this server holds version {self.manifest.version}"
            )
        return StoredModel(self.manifest.name, self.manifest.version, self.folder, self.label)


def open_model_store(
    uri: str | Path | None = None, *, include_builtin: bool | None = None, cache_dir: str | Path | None = None
) -> Store:
    """The store behind a ``--store``/``MODEL_URI`` value: an artifact folder, a store root, or an ``s3://`` URI of
    either (downloaded into ``cache_dir`` with every sha256 verified)."""
    text = str(uri) if uri is not None else None
    if text is not None and text.startswith("s3://"):
        from sdk.artifacts.s3 import S3Store, fetch_artifact, is_artifact_uri, s3_client

        client = s3_client()
        if is_artifact_uri(text, client=client):
            return ArtifactFolderStore(fetch_artifact(text, client=client, cache_dir=cache_dir), label=text)
        return S3Store(text, client=client, cache_dir=cache_dir)
    if text is not None and (Path(text).expanduser() / MANIFEST_FILE).is_file():
        return ArtifactFolderStore(Path(text).expanduser())
    return open_store(text, include_builtin=include_builtin, cache_dir=cache_dir)


class ModelRepository:
    """Resolves model references against a store and loads each version once (thread-safe)."""

    def __init__(
        self, store: Store, *, runtime: RuntimeConfig | None = None, models: Sequence[str | ModelRef] = ()
    ) -> None:
        self.store = store
        self.runtime = runtime
        self._defaults = {r.name: r for r in (m if isinstance(m, ModelRef) else ModelRef.parse(m) for m in models)}
        self._resolved: dict[tuple[str, str | None], StoredModel] = {}
        self._manifests: dict[Path, Manifest] = {}
        self._loaded: dict[Path, LoadedModel] = {}
        self._lock = threading.Lock()
        self._load_locks: dict[Path, threading.Lock] = {}

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
        stored = self.resolve(name, version)
        manifest = self._manifests.get(stored.path)
        if manifest is None:
            manifest = stored.manifest()
            with self._lock:
                self._manifests[stored.path] = manifest
        return manifest

    def is_loaded(self, name: str, version: str | None = None) -> bool:
        stored = self._resolved.get((name, version))
        return stored is not None and stored.path in self._loaded

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The loaded model, loading it (verify, build the session, warm up) on first use only."""
        stored = self.resolve(name, version)
        model = self._loaded.get(stored.path)
        if model is not None:
            return model
        with self._lock:
            lock = self._load_locks.setdefault(stored.path, threading.Lock())
        with lock:  # one load per version, even when several requests ask at once
            model = self._loaded.get(stored.path)
            if model is None:
                model = load(stored, config=self.runtime)
                with self._lock:
                    self._loaded[stored.path] = model
        return model

    def preload(self) -> list[LoadedModel]:
        """Load the default version of every served model (at startup, so that no request pays for it)."""
        return [self.get(name) for name in self.names()]

    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    def close(self) -> None:
        with self._lock:
            models, self._loaded = list(self._loaded.values()), {}
        for model in models:
            model.close()
