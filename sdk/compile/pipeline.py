"""The compile pipeline: export -> optimize -> parity gate -> reduced precisions -> TensorRT -> artifact folder.

Every artifact is checked against the source model on held-out real inputs before anything is written: fp32 must
match within max |diff| (``check_parity``), fp16/int8 must keep the task metric (``check_quality``), and declared
processors must reproduce the source's own preprocessing on held-out raw inputs (``check_source_processors``, first:
it needs no export). One failure
stops the compile with every number listed, unless ``allow_degraded`` gives the reason to ship anyway (recorded in
the manifest). Every gate, TensorRT engines' included, is passed before anything is written; the folder is then
written beside ``out`` and swapped in whole (``staged_folder``), so a failed or interrupted compile leaves the
previous folder as it was.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np

from sdk._record import record
from sdk.artifacts.cpu import this_cpu_record
from sdk.artifacts.manifest import Manifest, Source
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.compile import optimize
from sdk.compile.external import ExternalDataConfig, LargeModel, OnnxModel, model_nbytes, model_sha256
from sdk.compile.gates import GateResult, QualityResult, check_quality
from sdk.compile.package import ArtifactWriter, staged_folder
from sdk.compile.parity import check_parity
from sdk.compile.processor_gate import ProcessorGateResult, check_source_processors
from sdk.compile.progress import Progress
from sdk.compile.sources import CompileSource
from sdk.compile.torch_export import DEFAULT_OPSET, run_onnx
from sdk.errors import ConfigError, ParityFailure
from sdk.runtime.processors.text import with_probe

PRECISIONS = ("fp32", "fp16", "int8")
FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}


@record(frozen=False)
class Candidate:
    precision: str
    model: OnnxModel  # bytes, or a LargeModel on disk (past the external-data threshold)
    gate: GateResult
    scores: Mapping[str, float]
    target: dict[str, Any] = field(default_factory=dict)
    file: str = ""

    def __post_init__(self) -> None:
        self.file = self.file or FILES[self.precision]


@record
class Reference:
    """What one compile gates every candidate against, shared by the helpers that build them: the source, its fp32
    ONNX exports, the source model's own outputs and task scores on the held-out inputs, and where progress goes."""

    source: CompileSource
    fp32: OnnxModel  # the (fused) export every reduced precision and engine starts from
    plain: OnnxModel  # unfused: what NNCF and OpenVINO read (they do not know ONNX Runtime's fused operators)
    target: Mapping[str, Any]  # the fp32 artifact's target settings, which derived artifacts extend
    outputs: Mapping[str, np.ndarray]
    scores: Mapping[str, float]
    name: str  # how gate results name the source, e.g. "pytorch 2.13.0 fp32"
    progress: Progress
    external_data: ExternalDataConfig | None = None


@record(frozen=False)
class CompileResult:
    manifest: Manifest | None
    folder: Path
    candidates: list[Candidate]
    notes: list[str]


def parse_precisions(text: str | Sequence[str]) -> tuple[str, ...]:
    items = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    unknown = [p for p in items if p not in PRECISIONS]
    if unknown:
        raise ConfigError(f"unknown precision(s) {', '.join(unknown)}; choose from {', '.join(PRECISIONS)}")
    return tuple(p for p in PRECISIONS if p in items or p == "fp32")  # fp32 is the reference: always built


def _score(source: CompileSource, outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
    return source.evaluation.score(outputs) if source.evaluation.score else {}


def compile_source(
    source: CompileSource,
    out: Path,
    *,
    precisions: str | Sequence[str] = ("fp32",),
    version: str = "1",
    tolerance: float | None = None,
    allow_degraded: str | None = None,
    tensorrt: bool = False,
    progress: Progress | None = None,
    privacy_floor: str = "public",
    external_data: ExternalDataConfig | None = None,
) -> CompileResult:
    """Compile ``source`` into the artifact folder ``out`` (replaced if it exists). ``privacy_floor="private"``
    makes every call to the model stay on the device, whatever the caller asks. Model files over
    ``external_data.threshold`` are written as a graph plus weight shards (``sdk.compile.external``)."""
    progress = progress or Progress()
    wanted = parse_precisions(precisions)
    inputs = source.evaluation.inputs
    samples = source.evaluation.samples
    processors = _processor_gate(source, progress, allow_degraded)
    with progress.step(f"export {source.name} ({source.framework}) to ONNX, opset {DEFAULT_OPSET}") as step:
        fp32 = source.export()
        step.detail = fp32.describe() if isinstance(fp32, LargeModel) else f"{model_nbytes(fp32) / 1e6:.1f} MB"
    plain = fp32  # kept unfused for NNCF and OpenVINO
    target: dict[str, Any] = {"runtime": "onnxruntime", "opset": DEFAULT_OPSET, "device": "cpu"}
    if source.transformer is not None and isinstance(fp32, bytes):
        with progress.step("fuse attention, LayerNorm and GELU (ONNX Runtime transformer optimizer)") as step:
            fp32, fused = optimize.fuse_transformer(fp32, source.transformer)
            step.detail = ", ".join(f"{k} x{v}" for k, v in fused.items()) or "nothing fused"
        if not any(k in fused for k in ("Attention", "MultiHeadAttention")):
            progress.note("attention was not fused: the graph runs unfused (slower, still exact)")
        target["fused"] = sorted(fused)
    elif source.transformer is not None:
        progress.note("fusion skipped: ONNX Runtime's transformer optimizer loads the whole model into one protobuf")
    with progress.step(f"run the source model on {samples} held-out samples") as step:
        reference = source.run(inputs)
        source_scores = _score(source, reference)
        step.detail = _format_scores(source_scores)
    ref_name = f"{source.framework} {source.framework_version} fp32".replace("keras keras", "keras")
    candidates: list[Candidate] = []
    with progress.step("parity gate: fp32 ONNX vs the source") as step:
        got = run_onnx(fp32, inputs)
        parity = check_parity(
            reference,
            got,
            tolerance=source.fp32_tolerance if tolerance is None else tolerance,
            reference_name=ref_name,
            classify_output=source.classify_output,
        )
        scores = _score(source, got)
        candidates.append(Candidate("fp32", fp32, parity, scores, dict(target)))
        step.detail = parity.summary()
    if isinstance(fp32, LargeModel) and source.release is not None:
        source.release()  # its outputs are taken; its weights would sit beside the quantizer's copy
        gc.collect()
    against = Reference(
        source=source,
        fp32=fp32,
        plain=plain,
        target=target,
        outputs=reference,
        scores=source_scores,
        name=ref_name,
        progress=progress,
        external_data=external_data,
    )
    for precision in wanted[1:]:
        candidate = _reduced(against, precision)
        if candidate is not None:
            candidates.append(candidate)
    if "int8" in wanted and source.calibration and isinstance(fp32, LargeModel):
        progress.note("static int8 for OpenVINO not built: NNCF loads the whole model into one protobuf")
    elif "int8" in wanted and source.calibration:
        static = _static_int8(against)
        if static is not None:
            candidates.append(static)
    _raise_if_any_failed(source.name, candidates, samples, allow_degraded)
    engines = _engines(against, wanted) if tensorrt else []
    _raise_if_any_failed(source.name, engines, samples, allow_degraded)
    with progress.step(f"write the artifact folder {out}") as step, staged_folder(out) as staging:
        manifest = _write(
            source,
            staging,
            candidates,
            engines,
            version,
            allow_degraded,
            source_scores,
            privacy_floor,
            processors,
            external_data,
        )
        step.detail = ", ".join(a.file for a in manifest.artifacts)
    return CompileResult(manifest, out, candidates, list(progress.notes))


def _processor_gate(source: CompileSource, progress: Progress, allow_degraded: str | None) -> ProcessorsSpec | None:
    """The processors to write, with their gate's result; ParityFailure (before any export) when they do not
    reproduce the source's preprocessing, unless ``allow_degraded`` ships them anyway."""
    if source.processors is None:
        return None
    gate: ProcessorGateResult | None
    kind = source.processors.input
    title = "processor gate: the declared processors vs the source's own preprocessing on held-out raw inputs"
    with progress.step(title if kind is not None else "processors: output only (nothing raw to check)") as step:
        gate = check_source_processors(source)
        step.detail = gate.summary() if gate is not None else ""
    if gate is None:
        return source.processors
    if not gate.passed and not allow_degraded:
        gate.raise_if_failed(source.name)
    waiver = allow_degraded.strip() if allow_degraded and not gate.passed else None
    spec = dataclasses.replace(source.processors, parity=dataclasses.replace(gate.to_manifest(), waiver=waiver))
    if spec.text is not None:  # the ids this tokenizers release gives: a load under another that differs is refused
        text = with_probe(spec.text, source.files[spec.text.tokenizer][0], model=source.name)
        spec = dataclasses.replace(spec, text=text)
    return spec


def _raise_if_any_failed(name: str, candidates: Sequence[Candidate], samples: int, allow_degraded: str | None) -> None:
    """ParityFailure listing every candidate that missed its gate, unless ``allow_degraded`` ships them anyway."""
    failed = [c for c in candidates if not c.gate.passed]
    if failed and not allow_degraded:
        lines = "; ".join(f"{c.file} ({c.precision}): {c.gate.summary()}" for c in failed)
        raise ParityFailure(
            f"{name}: {len(failed)} artifact(s) failed the gate on {samples} held-out samples: {lines}",
            hint="nothing was written; fix the export, drop the precision, or pass --allow-degraded REASON",
        )


def _reduced(against: Reference, precision: str) -> Candidate | None:
    """The fp16 or int8 artifact that passes the quality gate (for int8: the fastest scheme that does)."""
    source, fp32, progress = against.source, against.fp32, against.progress
    if precision == "int8":
        refusal = optimize.int8_refusal(fp32)
        if refusal:
            progress.note(refusal)
            return None
        attempts: list[tuple[str, optimize.Int8Scheme | None]] = [(s.name, s) for s in optimize.INT8_SCHEMES]
    else:
        attempts = [("fp16", None)]
    candidate: Candidate | None = None
    for label, scheme in attempts:
        with progress.step(f"{precision}: {label}, then the quality gate ({source.quality.describe()})") as step:
            model: OnnxModel
            if scheme is not None:
                model = optimize.quantize_int8(fp32, scheme, external_data=against.external_data)
            else:
                model = optimize.to_fp16(fp32, external_data=against.external_data)
            got = run_onnx(model, source.evaluation.inputs)
            gate, scores = _quality_gate(against, got)
            step.detail = ("pass: " if gate.passed else "FAIL: ") + gate.summary()
        extra = {"scheme": label} if scheme is not None else {}
        candidate = Candidate(precision, model, gate, scores, {**against.target, **extra})
        if gate.passed:
            return candidate
    return candidate


def _quality_gate(against: Reference, got: Mapping[str, np.ndarray]) -> tuple[QualityResult, dict[str, float]]:
    """A reduced-precision artifact's outputs ``got`` against the source on the recipe's quality gate, with the
    artifact's task scores (recorded in the manifest's metrics)."""
    source = against.source
    scores = _score(source, got)
    gate = check_quality(
        source.quality,
        reference_name=against.name,
        source_outputs=against.outputs,
        artifact_outputs=got,
        source_scores=against.scores,
        artifact_scores=scores,
        samples=source.evaluation.samples,
    )
    return gate, scores


def _static_int8(against: Reference) -> Candidate | None:
    """The statically quantized int8 artifact for OpenVINO, checked by the quality gate as OpenVINO runs it.

    An extra beside the dynamic int8 artifact, not a replacement: the runtime measures both on the device and keeps
    the faster. So when it cannot be built, or misses the gate, it is left out with a note and the compile goes on.
    """
    source, progress = against.source, against.progress
    reason = optimize.static_int8_unavailable()
    if reason:
        progress.note(f"static int8 for OpenVINO not built: {reason}")
        return None
    count = len(source.calibration)
    with progress.step(f"int8: static Q/DQ (NNCF, {count} calibration inputs) for OpenVINO, then the gate") as step:
        assert isinstance(against.plain, bytes)  # large models skip static int8
        model = optimize.quantize_static_int8(
            against.plain, source.calibration, transformer=source.transformer is not None
        )
        got = run_openvino(model, source.evaluation.inputs)
        gate, scores = _quality_gate(against, got)
        step.detail = ("pass: " if gate.passed else "FAIL: ") + gate.summary()
    if not gate.passed:
        progress.note(f"{optimize.STATIC_INT8_FILE} missed the quality gate and is not shipped: {gate.summary()}")
        return None
    preset = optimize.default_static_preset(source.transformer is not None)
    extra = {
        "runtime": "openvino",
        "scheme": optimize.STATIC_INT8_SCHEME,
        "preset": preset,
        "calibration_samples": count,
    }
    settings = {k: v for k, v in against.target.items() if k != "fused"}
    return Candidate("int8", model, gate, scores, {**settings, **extra}, file=optimize.STATIC_INT8_FILE)


def run_openvino(model: bytes, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ONNX bytes in OpenVINO on the CPU, as the runtime's OpenVINO backend does."""
    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.openvino_backend import OpenVinoBackend

    backend = OpenVinoBackend(model, RuntimeConfig(warmup_runs=0))
    try:
        return backend.run({k: np.ascontiguousarray(v) for k, v in inputs.items()})
    finally:
        backend.close()


def _engines(against: Reference, wanted: Sequence[str]) -> list[Candidate]:
    """Build, check and return TensorRT engines, or note in one line why none can be built here."""
    from sdk.compile import tensorrt as trt_support

    source, fp32, progress = against.source, against.fp32, against.progress
    reason = trt_support.unavailable_reason()
    if reason:
        progress.note(f"--tensorrt: {reason}; no engine built, the ONNX artifacts are complete without one")
        return []
    import tensorrt as trt  # present: unavailable_reason said so

    cc = trt_support.gpu_compute_capability() or "unknown"
    built: list[Candidate] = []
    for precision in wanted:
        if precision == "int8":
            progress.note("--tensorrt int8: needs a Q/DQ (statically quantized) ONNX; built fp32/fp16 engines only")
            continue
        key = trt_support.EngineKey(model_sha256(fp32), cc, trt.__version__, precision)
        with progress.step(f"TensorRT {precision} engine for sm{cc}, then its gate") as step:
            engine = trt_support.build_engine(fp32, source.inputs, precision)
            got = trt_support.run_engine(engine, source.evaluation.inputs, source.output_names)
            gate: GateResult
            if precision == "fp32":  # TensorRT may use TF32 for fp32 layers: 10x the ONNX tolerance
                gate = check_parity(
                    against.outputs, got, tolerance=10 * source.fp32_tolerance, reference_name=against.name
                )
            else:
                gate = _quality_gate(against, got)[0]
            step.detail = f"{len(engine) / 1e6:.1f} MB; " + gate.summary()
        built.append(Candidate(precision, engine, gate, {}, key.target(), file=key.file))
    return built


def _write(
    source: CompileSource,
    out: Path,
    candidates: Sequence[Candidate],
    engines: Sequence[Candidate],
    version: str,
    allow_degraded: str | None,
    source_scores: Mapping[str, float],
    privacy_floor: str,
    processors: ProcessorsSpec | None = None,
    external_data: ExternalDataConfig | None = None,
) -> Manifest:
    """Write the artifact folder into ``out``, an empty staging folder (the caller swaps it in)."""
    metrics: dict[str, float] = {**source.metrics}
    metrics.update({f"source.{k}": float(v) for k, v in source_scores.items()})
    for c in candidates:
        runtime = c.target.get("runtime", "onnxruntime")
        label = c.precision if runtime == "onnxruntime" else f"{c.precision}.{runtime}"
        metrics.update({f"{label}.{k}": float(v) for k, v in c.scores.items()})
    writer = ArtifactWriter(
        out,
        name=source.name,
        version=version,
        source=Source(
            framework=source.framework,
            framework_version=source.framework_version,
            recipe=source.recipe,
            sha256=source.weights_sha256,
            cpu=this_cpu_record(),  # float results differ by instruction set: say which produced these
        ),
        inputs=source.inputs,
        outputs=source.outputs,
        task=source.task,
        description=source.description,
        labels=source.labels,
        metrics=metrics,
        privacy_floor=privacy_floor,
        processors=processors,
        external_data=external_data,
    )
    for c in [*candidates, *engines]:
        writer.add_model(
            c.model,
            file=c.file,
            parity=c.gate,
            kind="tensorrt" if c.file.endswith(".plan") else "onnx",
            precision=c.precision,
            target=c.target,
            degraded=allow_degraded if not c.gate.passed else None,
        )
    for name, (data, purpose) in source.files.items():
        writer.add_file(data, file=name, purpose=purpose)
    return writer.write()


def _format_scores(scores: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in scores.items()) or "no task metric"
