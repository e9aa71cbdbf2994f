"""The adapted model as one ONNX graph (base, then head), for runtimes outside aiaas: ``sdk adapt --merged FILE``.

Not an artifact: the artifact keeps two graphs so that it ships as a delta over its base and its engine loads the very
bytes that were verified (``sdk.artifacts.base_schema``). The merged file copies the base's weights, so it is as
large as the base; it is built with the ``onnx`` package (the ``compile`` extra), checked with ``onnx.checker``, and
written only when ONNX Runtime running it reproduces the artifact as ``sdk.load`` runs it on the probe inputs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sdk.artifacts.integrity import read_verified
from sdk.artifacts.manifest import read_manifest
from sdk.errors import IntegrityError, InvalidInput, ParityFailure
from sdk.extras import require
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.model import load

TOLERANCE = 1e-5  # the same two graphs in the same engine: only the fusion of the joint graph differs
MIN_OPSET = 13  # Sub, Mul, MatMul, Add and Softmax(axis=-1) mean what the head means from opset 13 on


def export_merged(folder: str | Path, target: str | Path, probe: Any) -> Path:
    """Write ``target``: the adapted artifact in ``folder`` as one graph. ``probe``: inputs to check it on (raw items
    its processors take, or a dict of tensors). Raises ParityFailure, writing nothing, if the two disagree."""
    onnx = require("onnx", purpose="exporting an adapted model as one ONNX graph (sdk adapt --merged)")
    folder, target = Path(folder), Path(target)
    if target.resolve().is_relative_to(folder.resolve()):
        raise InvalidInput(f"--merged {target} is inside the artifact folder {folder}", hint="write it elsewhere")
    manifest = read_manifest(folder)
    base = manifest.base
    if base is None:
        raise InvalidInput(f"{manifest.ref} is not an adapted artifact: it is one graph already")
    artifact = manifest.artifacts[0]
    if base.files.get(artifact.file) != artifact.sha256:
        raise IntegrityError(
            f"{artifact.file} is not the file of {base.ref} the head was fitted on", file=artifact.file
        )
    head_entry = next(f for f in manifest.files if f.file == base.head)
    base_model = onnx.load_from_string(read_verified(folder, artifact.file, artifact.sha256, artifact.bytes))
    head_model = onnx.load_from_string(read_verified(folder, head_entry.file, head_entry.sha256, head_entry.bytes))
    merged = _merge(onnx, base_model, head_model, base.feature)
    data = merged.SerializeToString()
    _check(folder, data, probe)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, target)
    return target


def _merge(onnx: Any, base: Any, head: Any, feature: str) -> Any:
    """Prefix every name but the base's inputs and the head's outputs (the two graphs may share names, as the digits
    CNN's and its head's 'probabilities'), then join the base's feature to the head's input."""
    opset = next((o.version for o in base.opset_import if o.domain in ("", "ai.onnx")), MIN_OPSET)
    head.ir_version = base.ir_version
    for entry in head.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = max(opset, MIN_OPSET)
    compose = onnx.compose
    base = compose.add_prefix(base, "base/", rename_inputs=False)
    head = compose.add_prefix(head, "head/", rename_outputs=False)
    (head_input,) = [i.name for i in head.graph.input]
    merged = compose.merge_models(
        base, head, io_map=[(f"base/{feature}", head_input)], outputs=[o.name for o in head.graph.output]
    )
    onnx.checker.check_model(merged)
    return merged


def _check(folder: Path, data: bytes, probe: Any) -> None:
    from sdk.runtime.onnx_backend import import_onnxruntime

    config = RuntimeConfig.from_env(usage="oneshot", warmup_runs=0)
    with load(folder, config=config) as adapted:
        feeds: Mapping[str, np.ndarray] = probe
        if not isinstance(probe, Mapping):
            assert adapted.processors is not None
            feeds = adapted.processors.encode(probe).feeds
        feeds = adapted.validator(feeds)
        expected = adapted.run_validated(feeds)
    session = import_onnxruntime().InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(names, dict(feeds))))
    worst = max(float(np.abs(got[k] - v).max()) for k, v in expected.items())
    if not worst <= TOLERANCE:
        raise ParityFailure(
            f"the merged graph differs from the adapted artifact by {worst:.3g} (tolerance {TOLERANCE:g})",
            hint="use the adapted artifact itself (sdk.load, sdk serve); the merged file was not written",
        )
