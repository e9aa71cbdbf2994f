"""The local model store: ``<root>/<name>/<version>/`` artifact folders and ``<root>/<name>/aliases/<alias>.json``.

A reference names a model as ``name`` (its ``live`` alias, else ``latest``, else its highest version), ``name@alias`` or
``name@version`` (an alias wins over a version of the same name). Stores are layered: the user's store first, then the
read-only store of models shipped inside the package.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sdk._record import record
from sdk.artifacts.config import StoreConfig
from sdk.artifacts.integrity import verify_artifact
from sdk.artifacts.manifest import (
    MANIFEST_FILE,
    NAME_PATTERN,
    RESERVED_VERSIONS,
    VERSION_PATTERN,
    Manifest,
    read_manifest,
    read_manifest_bytes,
    utc_now,
)
from sdk.artifacts.staging import staged
from sdk.errors import ConfigError, ManifestError, ModelNotFound
from sdk.settings import env_text

ALIASES_DIR = "aliases"
# A bare NAME means the version `sdk deploy` serves (alias "live"), else the "latest" alias, else the highest version.
SERVING_ALIAS = "live"
DEFAULT_ALIASES = (SERVING_ALIAS, "latest")
BUILTIN_ROOT = Path(__file__).resolve().parent.parent / "_embedded"


@record
class ModelRef:
    """A parsed reference; ``ref`` is the alias or version after ``@``, or None."""

    name: str
    ref: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        name, _, ref = text.strip().partition("@")
        if not NAME_PATTERN.match(name):
            lowered = text.strip().lower()
            hint = (
                f"model names are lowercase: {lowered}"
                if NAME_PATTERN.match(name.lower())
                else "use NAME, NAME@ALIAS or NAME@VERSION (lowercase letters, digits, '.', '_', '-'), e.g. digits-cnn"
            )
            raise ModelNotFound(f"{text!r} is not a model reference", hint=hint)
        if ref and not VERSION_PATTERN.match(ref):
            raise ModelNotFound(f"{text!r}: {ref!r} is not a valid alias or version")
        return cls(name, ref or None)

    def __str__(self) -> str:
        return f"{self.name}@{self.ref}" if self.ref else self.name


@record
class StoredModel:
    """One resolved version in a store: where its folder is and what its manifest says."""

    name: str
    version: str
    path: Path
    store: str

    def manifest(self) -> Manifest:
        return read_manifest(self.path)


class Store(Protocol):
    """What the runtime and the CLI need from any model store (local folder, the package, S3)."""

    label: str

    def names(self) -> list[str]: ...

    def versions(self, name: str) -> list[str]: ...

    def aliases(self, name: str) -> dict[str, dict[str, Any]]: ...

    def resolve(self, ref: str | ModelRef) -> StoredModel: ...


def version_key(version: str) -> tuple[Any, ...]:
    """Natural order: 2 < 10, 1.2 < 1.10; numbers sort before words."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[._+-]", version))


def default_alias(aliases: Mapping[str, Any]) -> str | None:
    """The alias a bare model name resolves through, if the model has one of DEFAULT_ALIASES."""
    return next((alias for alias in DEFAULT_ALIASES if alias in aliases), None)


def default_version(aliases: Mapping[str, Mapping[str, Any]], versions: Sequence[str]) -> str:
    alias = default_alias(aliases)
    return str(aliases[alias]["version"]) if alias is not None else versions[-1]


def resolve_version(store: Store, parsed: ModelRef) -> str:
    """The version ``parsed`` names in ``store``: an alias wins over a version of the same name; a bare name goes
    through DEFAULT_ALIASES, else the highest version."""
    versions = store.versions(parsed.name)
    if not versions:
        raise ModelNotFound(f"no model named {parsed.name!r} in {store.label}")
    aliases = store.aliases(parsed.name)
    wanted = parsed.ref
    if wanted is None:
        version = default_version(aliases, versions)
    elif wanted in aliases:
        version = str(aliases[wanted]["version"])
    elif wanted in versions:
        version = wanted
    else:
        raise ModelNotFound(
            f"{parsed.name} has no version or alias {wanted!r} in {store.label}",
            hint=f"versions: {', '.join(versions)}; aliases: {', '.join(aliases) or 'none'}",
        )
    if version not in versions:
        raise ModelNotFound(f"alias {parsed} points at version {version!r}, which is not in {store.label}")
    return version


class LocalStore:
    """A model store in a local folder."""

    def __init__(self, root: str | Path, *, readonly: bool = False, label: str | None = None) -> None:
        self.root = Path(root).expanduser()
        self.readonly = readonly
        self.label = label or str(self.root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [
            p.name
            for p in folder.iterdir()
            if p.name not in RESERVED_VERSIONS and VERSION_PATTERN.match(p.name) and (p / "manifest.json").is_file()
        ]
        return sorted(found, key=version_key)

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        folder = self.root / name / ALIASES_DIR
        if not folder.is_dir():
            return {}
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"alias file {path} is unreadable: {exc}") from exc
            if isinstance(record, dict) and isinstance(record.get("version"), str):
                out[path.stem] = record
        return out

    def resolve(self, ref: str | ModelRef) -> StoredModel:
        parsed = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        version = resolve_version(self, parsed)
        return StoredModel(parsed.name, version, self.root / parsed.name / version, self.label)

    # --- writing ----------------------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.readonly:
            raise ConfigError(f"the store {self.label} is read-only")

    def add(self, artifact_dir: str | Path, *, alias: str | None = None, replace: bool = False) -> StoredModel:
        """Copy a verified artifact folder into the store (atomically) and optionally point ``alias`` at it."""
        self._writable()
        source = Path(artifact_dir)
        manifest, manifest_bytes = read_manifest_bytes(source)
        verify_artifact(source, manifest)
        target = self.root / manifest.name / manifest.version
        if target.exists() and not replace:
            raise ConfigError(
                f"{manifest.ref} is already in {self.label}", hint="bump the version, or pass replace=True"
            )
        import shutil  # a store write, never a load: not on the import path of every cold start

        with staged(target, manifest_bytes) as staging:
            for name, _, _ in manifest.all_files():
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, staging / name)
        if alias:
            self.set_alias(manifest.name, alias, manifest.version)
        return StoredModel(manifest.name, manifest.version, target, self.label)

    def set_alias(self, name: str, alias: str, version: str) -> dict[str, Any]:
        """Point ``name@alias`` at ``version``, keeping the history of where it pointed before."""
        self._writable()
        if not VERSION_PATTERN.match(alias) or alias in RESERVED_VERSIONS:
            raise ConfigError(f"{alias!r} is not a valid alias name")
        if version not in self.versions(name):
            raise ModelNotFound(f"{name} has no version {version!r} in {self.label}")
        previous = self.aliases(name).get(alias)
        history = list(previous.get("history", [])) if previous else []
        if previous:
            history.append({"version": previous["version"], "updated_at": previous.get("updated_at", "")})
        record = {"version": version, "updated_at": utc_now(), "history": history[-50:]}
        folder = self.root / name / ALIASES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / f"{alias}.json", json.dumps(record, indent=2) + "\n")
        return record


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


class LayeredStore:
    """Several stores searched in order; the first that has a model answers for it."""

    def __init__(self, stores: Sequence[Store]) -> None:
        if not stores:
            raise ConfigError("a layered store needs at least one store")
        self.stores = list(stores)
        self.label = " + ".join(s.label for s in stores)

    def names(self) -> list[str]:
        return sorted({n for s in self.stores for n in s.names()})

    def _owner(self, name: str) -> Store | None:
        return next((s for s in self.stores if s.versions(name)), None)

    def versions(self, name: str) -> list[str]:
        owner = self._owner(name)
        return owner.versions(name) if owner else []

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        owner = self._owner(name)
        return owner.aliases(name) if owner else {}

    def resolve(self, ref: str | ModelRef) -> StoredModel:
        parsed = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
        owner = self._owner(parsed.name)
        if owner is None:
            import difflib

            names = self.names()
            close = difflib.get_close_matches(parsed.name, names, n=1)
            known = ", ".join(names) or "none"
            raise ModelNotFound(
                f"unknown model {parsed.name!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                hint=f"models here: {known} (searched {self.label})",
            )
        return owner.resolve(parsed)


def builtin_store() -> LocalStore:
    return LocalStore(BUILTIN_ROOT, readonly=True, label="built-in models")


def open_store(
    root: str | Path | None = None, *, include_builtin: bool | None = None, cache_dir: str | Path | None = None
) -> Store:
    """The store a ``--store``, ``MODEL_URI`` or ``AIAAS_STORE`` value names (argument, then ``AIAAS_STORE``, then
    ~/.cache/aiaas/models): the one place a string becomes a store.

    - one artifact folder (it holds manifest.json), local or ``s3://``: that version alone (``ArtifactFolderStore``);
    - an ``s3://bucket/prefix`` store root: the read-only S3 store (the `aws` extra) alone;
    - a local store root: that store, then the built-in models unless ``include_builtin`` is false (argument, then
      ``AIAAS_INCLUDE_BUILTIN``).

    S3 versions are fetched into ``cache_dir`` with every sha256 verified.
    """
    text = str(root) if root is not None else env_text(StoreConfig, "root")  # raw: an s3:// URI is no Path
    if text is not None and text.startswith("s3://"):
        from sdk.artifacts.s3 import S3Store, fetch_artifact, is_artifact_uri, s3_client

        client = s3_client()
        if is_artifact_uri(text, client=client):
            return ArtifactFolderStore(fetch_artifact(text, client=client, cache_dir=cache_dir), label=text)
        return S3Store(text, client=client, cache_dir=cache_dir)
    config = StoreConfig.from_env(root=Path(text) if text is not None else None, include_builtin=include_builtin)
    if (config.root / MANIFEST_FILE).is_file():
        return ArtifactFolderStore(config.root)
    stores: list[Store] = [LocalStore(config.root)]
    if config.include_builtin:
        stores.append(builtin_store())
    return LayeredStore(stores)


def locate_model(model: str | Path | StoredModel, store: Store | None = None) -> StoredModel:
    """What a model argument names: a ``StoredModel`` as it is; an artifact folder (a ``Path``, a string with a
    ``/`` or a leading ``.``, or a folder here holding manifest.json; an ``s3://`` URI of one); else a reference
    (``name``, ``name@alias``, ``name@version``) resolved in ``store`` (default: ``open_store()``)."""
    if isinstance(model, StoredModel):
        return model
    text = str(model)
    if (
        isinstance(model, Path)
        or "/" in text
        or text.startswith(".")
        or (Path(text).expanduser() / MANIFEST_FILE).is_file()
    ):
        opened = open_store(text, include_builtin=False)
        if not isinstance(opened, ArtifactFolderStore):
            raise ManifestError(f"{Path(text).expanduser()} is not an artifact folder (no manifest.json)")
        return opened.resolve(ModelRef(opened.manifest.name))
    return (store or open_store()).resolve(text)


def iter_models(store: Store) -> Iterable[StoredModel]:
    for name in store.names():
        for version in store.versions(name):
            yield store.resolve(ModelRef(name, version))


def held_files(roots: Sequence[Path], manifest: Manifest, *, versions: bool = True) -> dict[str, Path]:
    """sha256 -> a local file that may already hold those bytes, for fetching ``manifest``'s version into a store
    laid out as ``<root>/<name>/<version>/``: the files of its base (an adapted artifact) and, with ``versions``, of
    the other versions of the same model found under ``roots``, as their manifests list them. Candidates only: each
    is hashed again before it is used (``sdk.artifacts.s3_download.take_local``)."""
    folders: list[Path] = []
    for root in roots:
        if manifest.base is not None:
            folders.append(root / manifest.base.name / manifest.base.version)
        model = root / manifest.name
        if versions and model.is_dir():
            folders.extend(
                p for p in sorted(model.iterdir()) if p.name != manifest.version and VERSION_PATTERN.match(p.name)
            )
    found: dict[str, Path] = {}
    for folder in folders:
        try:
            other = read_manifest(folder)
        except (OSError, ManifestError):
            continue  # not a finished version folder: nothing to take from it
        for name, sha256, _ in other.all_files():
            found.setdefault(sha256, folder / name)
    return found


def _atomic_write(path: Path, text: str) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
