"""A large model's weights from verified, memory-mapped shards, handed to ONNX Runtime without a copy.

The graph file (small) is read verified as any model file. Each shard it refers to is mapped read-only and hashed
page by page (``sdk.artifacts.external.map_verified``), every shard before any session is built; then each external
initializer becomes a numpy view over its mapped range, wrapped (not copied) by ``OrtValue.ortvalue_from_numpy``.
So what was verified is what runs, and the weights are resident once: as the page cache's pages.

Measured with ONNX Runtime 1.32 (benchmarks/large_model.py): ``SessionOptions.add_external_initializers`` copies
every tensor into ORT's own memory (2x the weights), ``add_initializer`` (user-owned memory, documented for sharing
weights between sessions) does not; and prepacking makes a second, repacked copy of each MatMul/Conv weight, so it
is off for these sessions (``session.disable_prepacking``) unless ``AIAAS_MAPPED_PREPACK=1`` trades memory (about
2x the weights) for speed (a prepacked fp32 MatMul runs up to ~2x faster at batch 32). ORT still checks that the
graph's external-data paths exist beside the model, hence ``session.model_external_initializers_file_folder_path``;
it never reads them, since every external initializer is overridden.
"""

from __future__ import annotations

import mmap
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.external import external_tensors, map_verified
from sdk.artifacts.manifest import ArtifactFile
from sdk.errors import ArtifactError, IntegrityError
from sdk.settings import env, resolve


@record(kw_only=True)
class MappedConfig:
    prepack: bool = env(
        "AIAAS_MAPPED_PREPACK", False, help="let ONNX Runtime prepack mapped weights: faster, ~2x the weights' memory"
    )


@record(frozen=False)
class MappedWeights:
    """Initializer name -> read-only array over a verified mapping. Keep it as long as the session that uses it."""

    arrays: dict[str, np.ndarray]
    folder: Path
    maps: dict[str, mmap.mmap | bytes] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


def map_weights(folder: Path, artifact: ArtifactFile, graph: bytes) -> MappedWeights:
    """Verify and map every shard ``artifact`` lists, then view each external initializer of ``graph`` in them.

    Raises IntegrityError naming the shard that is missing, truncated or altered, or the graph's reference that
    points outside the listed shards (a graph must not make the runtime read bytes nobody verified)."""
    tensors = external_tensors(graph, origin=artifact.file)
    maps = {d.file: map_verified(folder, d.file, d.sha256, d.bytes) for d in artifact.external}
    arrays: dict[str, np.ndarray] = {}
    for t in tensors:
        data = maps.get(t.location)
        if data is None:
            raise IntegrityError(
                f"{artifact.file}: initializer {t.name!r} refers to {t.location!r}, which the manifest does not list",
                file=artifact.file,
            )
        if t.offset < 0 or t.offset + t.length > len(data):
            raise IntegrityError(
                f"{artifact.file}: initializer {t.name!r} reads bytes {t.offset}..{t.offset + t.length} of "
                f"{t.location}, which has {len(data)}",
                file=t.location,
            )
        count = t.length // np.dtype(t.dtype).itemsize
        arrays[t.name] = np.frombuffer(data, dtype=t.dtype, count=count, offset=t.offset).reshape(t.shape)
    return MappedWeights(arrays, folder, maps)


def pin_weights(ort: Any, options: Any, weights: MappedWeights) -> list[Any]:
    """Hand ``weights`` to the session ``options`` will build, as they are; the OrtValues returned must outlive it."""
    values = []
    for name, array in weights.arrays.items():
        value = ort.OrtValue.ortvalue_from_numpy(array)
        if array.size and value.data_ptr() != array.ctypes.data:  # a copy would double the weights' footprint
            raise ArtifactError(f"ONNX Runtime copied initializer {name!r} instead of using the mapped pages")
        options.add_initializer(name, value)
        values.append(value)
    if not resolve(MappedConfig).prepack:
        options.add_session_config_entry("session.disable_prepacking", "1")
    options.add_session_config_entry("session.model_external_initializers_file_folder_path", str(weights.folder))
    return values
