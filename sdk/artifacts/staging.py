"""Stage, verify, rename into place: the one way an artifact folder appears in a store or a cache.

A version's files are written into a staging folder beside its target; on success its manifest is written, every
file is checked against it, and the folder becomes the target by one rename (a stale or damaged copy there is moved
aside first, then removed). A reader never sees a partial or tampered folder. ``holds`` is the one answer to "is the
copy here still good": the very manifest bytes expected, and every file still matching them.

Users: ``LocalStore.add`` (a copy), ``fetch_artifact`` (the S3 cache of a server) and ``sdk models pull`` (the edge
store); the last two stage under a fixed name so an interrupted download resumes (one process fills a version at a
time).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sdk.artifacts.integrity import verify_artifact
from sdk.artifacts.manifest import MANIFEST_FILE, Manifest
from sdk.errors import AiaasError, IntegrityError

STAGING_PREFIX = ".partial-"


def holds(folder: Path, manifest_bytes: bytes | None = None) -> bool:
    """True when ``folder`` holds this very manifest (``None``: its own) and every file it lists still matches it."""
    try:
        found = (folder / MANIFEST_FILE).read_bytes()
        if manifest_bytes is not None and found != manifest_bytes:
            return False
        verify_artifact(folder, Manifest.from_json(found, origin=str(folder / MANIFEST_FILE)))
    except (OSError, AiaasError):
        return False
    return True


def staging_folder(target: Path) -> Path:
    """Where ``target`` is staged when its filling may resume: ``<parent>/.partial-<name>`` (never a version name)."""
    return target.parent / f"{STAGING_PREFIX}{target.name}"


@contextmanager
def staged(target: Path, manifest_bytes: bytes, *, resumable: bool = False) -> Iterator[Path]:
    """A staging folder beside ``target`` to fill with the manifest's files; on a clean exit it becomes ``target``.

    On the way out the manifest is written, every file verified, and the folder renamed into place. On failure it is
    removed, unless ``resumable``: then it stays (``staging_folder``) so the next try starts from what already landed,
    except after an ``IntegrityError`` (what was fetched does not match its manifest: nothing is kept).
    """
    import shutil
    import tempfile  # both here, not at module level: a load never stages (~3 ms of every cold start)

    target.parent.mkdir(parents=True, exist_ok=True)
    if resumable:
        staging = staging_folder(target)
        staging.mkdir(exist_ok=True)
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{target.name}.", dir=target.parent))
    try:
        yield staging
        (staging / MANIFEST_FILE).write_bytes(manifest_bytes)
        _publish(staging, target, Manifest.from_json(manifest_bytes, origin=str(target / MANIFEST_FILE)))
    except BaseException as exc:
        if not resumable or isinstance(exc, IntegrityError):
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, target: Path, manifest: Manifest) -> None:
    """Verify ``staging`` and swap it in as ``target`` (a copy already there is replaced)."""
    verify_artifact(staging, manifest)  # a mismatch raises IntegrityError: nothing reaches the target
    swap_in(staging, target)


def swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target`` (same filesystem). A previous ``target`` is moved aside first, put back if the
    rename fails, and removed once it succeeded: a reader finds the old folder or the new one, never a mix.
    Also used by ``sdk compile``, which writes a fresh artifact folder through its own gates before swapping it in."""
    if not target.exists():
        staging.rename(target)
        return
    import shutil
    import tempfile

    aside = Path(tempfile.mkdtemp(prefix=f".old-{target.name}.", dir=target.parent))
    previous = aside / target.name
    target.rename(previous)
    try:
        staging.rename(target)
    except BaseException:
        previous.rename(target)  # if even this fails, the previous folder stays in ``aside``, never deleted
        aside.rmdir()
        raise
    shutil.rmtree(aside, ignore_errors=True)
