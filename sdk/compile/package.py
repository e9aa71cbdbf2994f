"""Write an artifact folder: model files that passed the parity gate, extra files, and the manifest last.

The manifest is written last, so a folder with a manifest is complete; every file's sha256 and size are computed from
the bytes written. ``staged_folder`` writes it beside its destination and swaps it in only when complete, so a
failed or interrupted compile leaves the previous folder as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.artifacts.chunks import add_chunk_index
from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import ArtifactFile, DataFile, ExtraFile, Manifest, Source, TensorSpec, write_manifest
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.artifacts.staging import swap_in
from sdk.compile.external import ExternalDataConfig, LargeModel, externalize, place
from sdk.compile.gates import GateResult
from sdk.errors import ParityFailure
from sdk.settings import env, resolve

MiB = 1 << 20


@record(kw_only=True)
class ChunkIndexConfig:
    """Which files of a compiled artifact get a chunk index (``sdk.artifacts.chunks``): an update that changes a few
    tensors of a large file then moves only the chunks that changed. Small files travel whole."""

    min_file: int = env(
        "AIAAS_CHUNK_INDEX_MIN_BYTES", 8 * MiB, help="files of at least this many bytes get a chunk index (0: none)"
    )


class ArtifactWriter:
    def __init__(
        self,
        folder: str | Path,
        *,
        name: str,
        version: str,
        source: Source,
        inputs: tuple[TensorSpec, ...],
        outputs: tuple[TensorSpec, ...],
        task: str = "",
        description: str = "",
        labels: tuple[str, ...] | None = None,
        privacy_floor: str = "public",
        metrics: Mapping[str, float] | None = None,
        processors: ProcessorsSpec | None = None,
        external_data: ExternalDataConfig | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.external_data = external_data or ExternalDataConfig.from_env()
        self._header: dict[str, Any] = {
            "name": name,
            "version": version,
            "source": source,
            "inputs": inputs,
            "outputs": outputs,
            "task": task,
            "description": description,
            "labels": labels,
            "privacy_floor": privacy_floor,
            "metrics": dict(metrics or {}),
            "processors": processors,
        }
        self._artifacts: list[ArtifactFile] = []
        self._files: list[ExtraFile] = []

    def _write(self, file: str, data: bytes) -> tuple[str, int]:
        path = self.folder / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return sha256_bytes(data), len(data)

    def add_model(
        self,
        data: bytes | LargeModel,
        *,
        file: str,
        parity: GateResult,
        kind: str = "onnx",
        precision: str = "fp32",
        target: Mapping[str, Any] | None = None,
        degraded: str | None = None,
    ) -> ArtifactFile:
        """Add a model file. Raises ParityFailure (and writes nothing) when it did not pass the gate, unless
        ``degraded`` gives the reason it ships anyway; the reason and the failed numbers go into the manifest."""
        if degraded is not None and not degraded.strip():
            raise ParityFailure(f"{file}: --allow-degraded needs a reason, not an empty string")
        waiver = degraded.strip() if degraded and not parity.passed else None
        if waiver is None:
            parity.raise_if_failed(file)
        shards: tuple[DataFile, ...] = ()
        if isinstance(data, LargeModel):  # already sharded on disk as it was gated: linked in, hashes kept
            data, shards = place(data, self.folder, file)
        elif kind == "onnx" and len(data) > self.external_data.threshold:  # a large model: graph + weight shards
            data, parts = externalize(data, file=file, config=self.external_data)
            shards = tuple(DataFile(file=n, sha256=h, bytes=b) for n, part in parts for h, b in [self._write(n, part)])
        sha256, size = self._write(file, data)
        artifact = ArtifactFile(
            kind=kind,
            file=file,
            sha256=sha256,
            bytes=size,
            precision=precision,
            target=dict(target or {}),
            parity=dataclasses.replace(parity.to_manifest(), waiver=waiver),
            external=shards,
        )
        self._artifacts.append(artifact)
        return artifact

    def add_file(self, data: bytes, *, file: str, purpose: str = "") -> ExtraFile:
        sha256, size = self._write(file, data)
        extra = ExtraFile(file=file, sha256=sha256, bytes=size, purpose=purpose)
        self._files.append(extra)
        return extra

    def set_metrics(self, metrics: Mapping[str, float]) -> None:
        self._header["metrics"].update(metrics)

    def write(self) -> Manifest:
        """The manifest, written last; then, when a file is large enough, the chunk index (listed in the manifest, so
        its sha256 and a later signature cover it)."""
        manifest = Manifest(artifacts=tuple(self._artifacts), files=tuple(self._files), **self._header)
        write_manifest(self.folder, manifest)
        min_file = resolve(ChunkIndexConfig).min_file
        if min_file > 0 and any(size >= min_file for _, _, size in manifest.all_files()):
            manifest = add_chunk_index(self.folder, min_file=min_file)
        return manifest


@contextlib.contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; when the block completes, the staging folder becomes
    ``target`` (replacing the previous one whole: no stale files survive). On any exception, KeyboardInterrupt
    included, the staging folder is removed and ``target`` is left untouched.

    The staging folder is a sibling, so each swap is a rename on one filesystem; between the two renames a reader
    finds ``target`` missing, never half-written.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    try:
        yield staging
        swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
