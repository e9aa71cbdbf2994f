"""An adapted artifact's engine: its base's graph, then its head's graph on the base's declared feature output.

``sdk adapt`` (head mode) writes a small ``head.onnx`` beside the base's own model file (``sdk.artifacts.
base_schema``). ``opener`` wraps the runtime's engine opener so that each candidate artifact of such a manifest opens
as a ``ChainedBackend``: the base's graph from the very bytes its sha256 was checked on, as for any model, and the
head the same way. Both graphs are refused unless the model file is the very one the head was fitted on (the sha256
the base lists it under): a head on another base's features would answer without an error, and wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sdk.artifacts.integrity import read_verified
from sdk.artifacts.manifest import ArtifactFile, Manifest
from sdk.errors import IntegrityError, ManifestError
from sdk.runtime.backend import Backend
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.engines import Opener


class ChainedBackend:
    """``base`` then ``head``: the inputs are the base's, the outputs the head's. The feature reaches the head as
    float32 (an fp16 base's feature is widened)."""

    def __init__(self, base: Backend, head: Backend, *, feature: str, head_file: str) -> None:
        self.base, self.head, self.feature = base, head, feature
        self.name, self.version, self.providers = base.name, base.version, base.providers
        self.notes: tuple[str, ...] = (*base.notes, f"{head_file} runs on the base's '{feature}' output")
        head_inputs, _ = head.signature()
        if len(head_inputs) != 1:
            raise ManifestError(f"{head_file} must take one input (the feature), it takes {sorted(head_inputs)}")
        (self._head_input,) = head_inputs
        _, base_outputs = base.signature()
        if feature not in base_outputs:
            raise ManifestError(
                f"{head_file} reads the base output {feature!r}, which the model does not have ({sorted(base_outputs)})"
            )

    def signature(self) -> tuple[dict[str, tuple[str, int]], dict[str, tuple[str, int]]]:
        return self.base.signature()[0], self.head.signature()[1]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feature = self.base.run(feeds)[self.feature]
        return self.head.run({self._head_input: np.ascontiguousarray(feature, dtype=np.float32)})

    def close(self) -> None:
        self.base.close()
        self.head.close()


def opener(manifest: Manifest, open_backend: Opener) -> Opener:
    """``open_backend`` itself for an ordinary manifest; for an adapted one, an opener of chained engines."""
    base = manifest.base
    if base is None or base.mode != "head":  # a finetuned artifact runs its own files, like any other
        return open_backend
    head_entry = next((f for f in manifest.files if f.file == base.head), None)
    if head_entry is None:  # the manifest refuses this; kept for a manifest built in code
        raise ManifestError(f"{manifest.ref}: its head {base.head!r} is not one of its files")

    def open_chained(folder: Path, artifact: ArtifactFile, config: RuntimeConfig) -> Backend:
        expected = base.files.get(artifact.file)
        if expected != artifact.sha256:
            raise IntegrityError(
                f"{artifact.file} is not the file of {base.ref} that {base.head} was fitted on: the manifest lists "
                f"sha256 {artifact.sha256[:16]}…, the base {(expected or 'nothing')[:16]}…",
                file=artifact.file,
                hint=f"adapt again from the base you mean to run (sdk adapt {base.name}@{base.version} ...)",
            )
        head_bytes = read_verified(folder, head_entry.file, head_entry.sha256, head_entry.bytes)
        from sdk.runtime.onnx_backend import OnnxRuntimeBackend  # the head is a few kB: ORT runs it on any device

        head = OnnxRuntimeBackend(head_bytes, config, origin=head_entry.file)
        try:
            base_backend = open_backend(folder, artifact, config)
        except BaseException:
            head.close()
            raise
        try:
            return ChainedBackend(base_backend, head, feature=base.feature, head_file=head_entry.file)
        except BaseException:
            base_backend.close()
            head.close()
            raise

    return open_chained
