"""Write an adapted artifact: the base's files (the very bytes, under the base's sha256), ``head.onnx``, and a manifest
naming the base, gated on parity before anything reaches ``out``.

Everything is written into a staging folder beside ``out``; the folder is then loaded with ``sdk.load`` (the real
runtime path: verify, chain the two graphs, the base's processors) and held against the in-memory pipeline (the base's
features, already computed, through the head in float64) on the examples. Only when that passes is the gate recorded
in the manifest and the staging folder renamed to ``out``; on any failure ``out`` is left as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk._version import __version__
from sdk.adaptation import onnx_writer
from sdk.adaptation.data import Examples
from sdk.adaptation.features import BATCH, Base, Progress, tensor_examples
from sdk.adaptation.heads import Head
from sdk.artifacts.base_schema import BaseSpec
from sdk.artifacts.cpu import this_cpu_record
from sdk.artifacts.integrity import read_verified, sha256_bytes, sha256_file
from sdk.artifacts.manifest import ExtraFile, Manifest, Source, TensorSpec, write_manifest
from sdk.artifacts.processors_schema import OutputSpec, ProcessorsSpec
from sdk.compile.package import staged_folder
from sdk.compile.parity import ParityResult, check_parity
from sdk.errors import ParityFailure
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.model import load

HEAD_FILE = "head.onnx"
HEAD_INPUT = "features"
PARITY_TOLERANCE = 1e-4  # probabilities (or a forecast, per unit of the target's spread): float32 graph vs float64
PARITY_SAMPLES = 256  # at most; the examples are real inputs of the new task, each through the whole chain


@record
class Written:
    manifest: Manifest
    parity: ParityResult
    head_bytes: int
    base_bytes: int


def answer_name(head: Head) -> str:
    return "probabilities" if head.kind == "classes" else "forecast"


def head_graph(head: Head, base: Base) -> bytes:
    return onnx_writer.linear_head(
        feature=HEAD_INPUT,
        output=answer_name(head),
        mean=head.mean,
        scale=head.scale,
        weights=head.weights,
        bias=head.bias,
        softmax=head.kind == "classes",
        metadata={"base": base.manifest.ref, "base_feature": base.feature, "l2": repr(head.l2)},
    )


def write_adapted(
    out: Path,
    *,
    base: Base,
    head: Head,
    examples: Examples,
    features: np.ndarray,
    name: str,
    version: str,
    private: bool,
    metrics: dict[str, float],
    progress: Progress | None = None,
) -> Written:
    graph = head_graph(head, base)
    with staged_folder(out) as staging:
        reused = _copy_base_files(base, staging)
        (staging / HEAD_FILE).write_bytes(graph)
        head_entry = ExtraFile(file=HEAD_FILE, sha256=sha256_bytes(graph), bytes=len(graph), purpose="head")
        base_bytes = sum(f.bytes for f in reused)
        manifest = _manifest(
            base,
            head,
            examples,
            name=name,
            version=version,
            private=private,
            files=(*[f for f in reused if f.file != base.artifact.file], head_entry),
            metrics={
                **metrics,
                "head_bytes": float(len(graph)),
                "base_bytes": float(base_bytes),
                "delta_share": len(graph) / base_bytes,
            },
        )
        write_manifest(staging, manifest)
        parity = _parity_gate(staging, base, head, examples, features, progress)
        artifact = dataclasses.replace(manifest.artifacts[0], parity=parity.to_manifest())
        if not parity.passed:  # nothing reaches `out`: the staging folder is removed
            raise ParityFailure(
                f"{name}@{version} failed its parity gate against the {parity.reference}: {parity.summary()}",
                hint=f"{out} was left as it was; run again with --verbose and report it (a head graph that does "
                "not compute what was fitted is our fault)",
            )
        manifest = dataclasses.replace(manifest, artifacts=(artifact,))
        write_manifest(staging, manifest)
    return Written(manifest, parity, len(graph), base_bytes)


def _copy_base_files(base: Base, staging: Path) -> list[ExtraFile]:
    """The base's model file and its processors' files, copied from the very bytes checked against the base's
    sha256 (so the copy is the base's file, byte for byte: a store that holds the base holds it)."""
    artifact = base.artifact
    wanted = [(artifact.file, artifact.sha256, artifact.bytes, "model")]
    needed = base.manifest.processors.files if base.manifest.processors is not None else ()
    wanted += [(f.file, f.sha256, f.bytes, f.purpose) for f in base.manifest.files if f.file in needed]
    copied = []
    for file, sha256, size, purpose in wanted:
        if file == HEAD_FILE:
            raise ValueError(f"the base names a file {HEAD_FILE}, which the adapted artifact's head takes")
        data = read_verified(base.folder, file, sha256, size)
        target = staging / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        copied.append(ExtraFile(file=file, sha256=sha256, bytes=size, purpose=purpose))
    return copied


def _manifest(
    base: Base,
    head: Head,
    examples: Examples,
    *,
    name: str,
    version: str,
    private: bool,
    files: tuple[ExtraFile, ...],
    metrics: dict[str, float],
) -> Manifest:
    bm = base.manifest
    answer = answer_name(head)
    width = len(head.labels) if head.kind == "classes" else 1
    if head.kind == "classes":
        output = OutputSpec(kind="classes", output=answer, activation="none", top_k=min(3, width))
        what = f"{width} classes ({', '.join(head.labels[:5])}{', ...' if width > 5 else ''})"
    else:
        output = OutputSpec(kind="forecast", output=answer)
        what = "numbers (ridge regression)"
    processors = bm.processors
    spec = ProcessorsSpec(
        text=processors.text if processors else None,
        image=processors.image if processors else None,
        series=processors.series if processors else None,
        output=output,
        parity=processors.parity if processors else None,
    )
    artifact = base.artifact
    reused = {artifact.file: artifact.sha256, **{f.file: f.sha256 for f in files if f.purpose != "head"}}
    return Manifest(
        name=name,
        version=version,
        description=f"{bm.ref} adapted to {what} from {len(examples)} examples (sdk adapt, head mode)",
        task="classification" if head.kind == "classes" else "regression",
        source=Source(
            framework="aiaas-adapt",
            framework_version=__version__,
            recipe=f"sdk adapt {bm.ref} --data {examples.source.name}",
            sha256=sha256_file(examples.source),
            cpu=this_cpu_record(),
        ),
        inputs=bm.inputs,
        outputs=(TensorSpec(name=answer, dtype="float32", shape=(-1, width), dim_names=("batch", None)),),
        artifacts=(dataclasses.replace(artifact, parity=None),),
        files=files,
        privacy_floor="private" if private or bm.privacy_floor == "private" else "public",
        labels=head.labels if head.kind == "classes" else None,
        metrics=metrics,
        processors=spec if spec.input is not None or spec.output is not None else None,
        base=BaseSpec(
            name=bm.name,
            version=bm.version,
            manifest_sha256=base.manifest_sha256,
            files=reused,
            feature=base.feature,
            head=HEAD_FILE,
        ),
    )


def _parity_gate(
    folder: Path, base: Base, head: Head, examples: Examples, features: np.ndarray, progress: Progress | None
) -> ParityResult:
    """The folder as the runtime loads it vs the in-memory pipeline, on up to PARITY_SAMPLES examples."""
    answer = answer_name(head)
    count = min(len(examples), PARITY_SAMPLES)
    adapted = load(folder, config=RuntimeConfig.from_env(usage="oneshot", warmup_runs=0))
    try:
        call = _caller(adapted, base, examples)
        got = []
        for start in range(0, count, BATCH):
            got.append(call(start, min(start + BATCH, count))[answer])
            if progress is not None:
                progress("parity", min(start + BATCH, count), count)
    finally:
        adapted.close()
    reference = head(features[:count])
    scale = 1.0 if head.kind == "classes" else max(1.0, float(np.abs(reference).max()))
    return check_parity(
        {answer: reference},
        {answer: np.concatenate(got)},
        tolerance=PARITY_TOLERANCE * scale,
        reference_name=f"in-memory pipeline ({base.manifest.ref} '{base.feature}' by {base.model.info.runtime}, "
        "numpy head in float64)",
        classify_output=answer if head.kind == "classes" else None,
    )


def _caller(model: Any, base: Base, examples: Examples) -> Callable[[int, int], dict[str, np.ndarray]]:
    if examples.kind == "x":
        x = tensor_examples(base.manifest, examples)
        name = base.manifest.inputs[0].name
        return lambda start, stop: model({name: x[start:stop]})
    processors = model.processors
    return lambda start, stop: model(processors.encode(examples.items[start:stop]).feeds)
