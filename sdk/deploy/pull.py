"""``sdk models pull``: bring a model version from the S3 store into the local store the edge runtime reads.

``NAME@alias`` resolves through the same alias objects the cloud deploy moves, so the edge runs the version the cloud
serves. The download is the one of ``sdk.artifacts.s3_download``: files land in a staging folder beside the target
(``<root>/<name>/.partial-<version>/``), each checked against its sha256 as it lands (an interrupted file resumes, a
bad one is fetched again, a tampered object is refused), and the folder becomes visible as ``<root>/<name>/<version>/``
by one rename, manifest included. Once a version is here, pulling it again needs no network: without one, the local
copy (verified) answers. Only what the store here lacks moves: a file whose sha256 a local version already holds (an
adapted artifact's base, in this store or among the built-in models; another version of the same model in this store)
is hashed, then hard-linked or copied into the staging folder instead of downloaded. A file the artifact's chunk index
lists (``sdk.artifacts.chunks``) is assembled from chunks: those found in the local versions' files are copied, only
the others are fetched, each verified as it lands and the whole file again before the rename.
"""

from __future__ import annotations

from pathlib import Path

from sdk._record import record
from sdk.artifacts.manifest import MANIFEST_FILE, Manifest
from sdk.artifacts.s3 import S3Store
from sdk.artifacts.s3_download import download_folder
from sdk.artifacts.staging import holds
from sdk.artifacts.store import BUILTIN_ROOT, LocalStore, ModelRef, default_alias, held_files
from sdk.deploy.progress import NoProgress, TransferProgress
from sdk.deploy.upload import human_size
from sdk.errors import AiaasError, CloudUnavailable, ConfigError

PULLED, PRESENT, OFFLINE = "pulled", "present", "offline"


@record
class PullResult:
    name: str
    version: str
    path: Path
    status: str
    alias: str | None = None
    files: int = 0
    bytes: int = 0
    detail: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def pull(
    ref: str | ModelRef, *, source: S3Store, local: LocalStore, progress: TransferProgress | None = None
) -> PullResult:
    """Make ``ref`` (resolved in ``source``) present and verified in ``local``; mirror the alias it went through."""
    parsed = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
    if local.readonly:
        raise ConfigError(f"the store {local.label} is read-only: nothing can be pulled into it")
    try:
        version = source.resolve_version(parsed)
        alias = _alias_used(source, parsed, version)
        manifest_bytes = source.manifest_bytes(parsed.name, version)
    except CloudUnavailable as exc:
        return _offline(parsed, local, exc)
    manifest = Manifest.from_json(manifest_bytes, origin=f"{source.version_uri(parsed.name, version)}{MANIFEST_FILE}")
    target = local.root / parsed.name / version
    if holds(target, manifest_bytes):
        _mirror_alias(local, parsed.name, alias, version)
        return PullResult(parsed.name, version, target, PRESENT, alias, detail=f"already in {local.label}, verified")
    files = manifest.all_files()
    shown: TransferProgress = progress or NoProgress()
    shown.begin(sum(size for _, _, size in files), len(files))
    held = {**held_files([BUILTIN_ROOT], manifest, versions=False), **held_files([local.root], manifest)}
    try:
        prefix = f"{source.prefix}{parsed.name}/{version}/"
        moved = download_folder(
            source.client,
            source.bucket,
            prefix,
            target,
            manifest_bytes,
            on_file=shown.file,
            on_bytes=shown.advance,
            held=held,
        )
    finally:
        shown.end()
    _mirror_alias(local, parsed.name, alias, version)
    kept = sum(size for _, _, size in files) - moved
    detail = f"{len(files)} file(s) verified into {target}; {human_size(moved)} downloaded"
    if kept:
        detail += f", {human_size(kept)} already here (same sha256) not downloaded again"
    return PullResult(parsed.name, version, target, PULLED, alias, len(files), moved, detail)


def _alias_used(source: S3Store, parsed: ModelRef, version: str) -> str | None:
    """The alias ``parsed`` resolved through (for a bare name: ``live`` or ``latest`` when the store has it)."""
    if parsed.ref is not None and parsed.ref != version:
        return parsed.ref
    return default_alias(source.aliases(parsed.name)) if parsed.ref is None else None


def _mirror_alias(local: LocalStore, name: str, alias: str | None, version: str) -> None:
    if alias is not None and local.aliases(name).get(alias, {}).get("version") != version:
        local.set_alias(name, alias, version)


def _offline(parsed: ModelRef, local: LocalStore, exc: CloudUnavailable) -> PullResult:
    """Without the store, a version already here (verified) is the answer; anything else is the network error."""
    try:
        stored = local.resolve(parsed)
    except (AiaasError, OSError):
        stored = None
    if stored is None or not holds(stored.path):
        raise CloudUnavailable(
            f"{exc.message}; and {parsed} is not in {local.label} yet",
            hint="connect to the network (or the store) and pull again",
        ) from exc
    detail = f"the store is unreachable ({exc.message}); {stored.name}@{stored.version} is already here, verified"
    alias = parsed.ref if parsed.ref not in (None, stored.version) else None
    return PullResult(stored.name, stored.version, stored.path, OFFLINE, alias, detail=detail)
