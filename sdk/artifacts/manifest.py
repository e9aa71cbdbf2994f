"""``manifest.json``: what an artifact folder holds, and the proof that its files are the ones compiled.

An artifact folder is ``manifest.json`` plus the files it lists. Every file carries its sha256 and size; nothing is
loaded before both match (see ``sdk.artifacts.integrity``). The schema, version 1::

    {
      "schema_version": 1,
      "name": "digits-cnn", "version": "1", "created_at": "2026-11-28T20:00:00Z", "description": "...",
      "task": "classification",
      "source": {"framework": "pytorch", "framework_version": "2.13.0", "recipe": "models/digits_cnn",
                 "sha256": "<sha256 of the source weights>", "cpu": {"model": "AMD EPYC 7B13", "isa": "avx2"}},
      "inputs":  [{"name": "image", "dtype": "float32", "shape": [-1, 1, 8, 8],
                   "dim_names": ["batch", null, null, null],
                   "max_shape": null, "allow_non_finite": false, "description": "..."}],
      "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, 10], ...}],
      "artifacts": [{"kind": "onnx", "file": "model.onnx", "sha256": "...", "bytes": 12345, "precision": "fp32",
                     "target": {"runtime": "onnxruntime", "opset": 17},
                     "parity": {"reference": "pytorch fp32", "metric": "max_abs_diff", "value": 1e-6,
                                "tolerance": 1e-4, "passed": true, "samples": 360, "extra": {}, "waiver": null}}],
      "files": [{"file": "tokenizer.json", "sha256": "...", "bytes": 1234, "purpose": "tokenizer"}],
      "privacy_floor": "public",
      "labels": ["0", "1", ...],
      "metrics": {"test_accuracy": 0.98},
      "processors": {"image": {...}, "output": {"kind": "classes", ...}, "parity": {...}}
    }

Shapes use -1 for a dynamic dimension. ``privacy_floor`` raises (never lowers) a call's privacy. ``source.cpu``
(optional) is the CPU that produced the manifest's numbers: float kernels differ by instruction set, so a rebuild
on another ``isa`` matches within tolerances, not bit for bit. A signed manifest also holds ``"signature"``
(``sdk.artifacts.signing``). ``processors`` (optional, ``sdk.artifacts.processors_schema``) turns raw inputs (text,
images, series) into the inputs and the outputs into answers; a manifest without it is written as before it existed.
``base`` (optional, ``sdk.artifacts.base_schema``): an adapted artifact's base, the files it reuses from it, and its
head; likewise absent from every other manifest. ``artifacts[].external`` (optional): a large model's ONNX external
data shards, each ``{"file", "sha256", "bytes"}`` (``sdk.artifacts.external``); absent for a single-file model.

Unknown keys are refused at every level, naming the key, where it is and the closest known key: a misspelt
``privacy_flor`` must not load as public, and a reader must not drop what a newer schema meant. Open on purpose
(any key): ``target`` (engine-specific: ``runtime``, ``opset``, ``fused``, ``scheme``, TensorRT's engine keys...),
``metrics`` and ``parity.extra`` (named numbers).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import field, fields
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from sdk._record import record
from sdk.artifacts import base_schema, processors_schema
from sdk.artifacts.base_schema import BaseSpec
from sdk.artifacts.json_reader import SHA256_PATTERN, JsonReader
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.errors import ManifestError

SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"

DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "bool",
)
FLOAT_DTYPES = ("float16", "float32", "float64")
PRECISIONS = ("fp32", "fp16", "int8", "bf16")
ARTIFACT_KINDS = ("onnx", "tensorrt")
PRIVACY_LEVELS = ("public", "private")

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
RESERVED_VERSIONS = ("aliases",)


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@record(kw_only=True)
class TensorSpec:
    """One named input or output. ``shape`` uses -1 for a dynamic dimension."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    # Dynamic dimensions that must agree across inputs share a name (e.g. "batch", "sequence").
    dim_names: tuple[str | None, ...] | None = None
    # Upper bounds for dynamic dimensions (-1: unbounded); None: no bounds.
    max_shape: tuple[int, ...] | None = None
    allow_non_finite: bool = False
    description: str = ""


@record(kw_only=True)
class Parity:
    """How an artifact compared with its source model on real inputs."""

    reference: str
    metric: str
    value: float
    tolerance: float
    passed: bool
    samples: int
    extra: Mapping[str, float] = field(default_factory=dict)
    # Why the artifact ships although it failed (`sdk compile --allow-degraded REASON`); None when it passed.
    waiver: str | None = None


@record(kw_only=True)
class DataFile:
    """One shard of a large model's ONNX external data (``sdk.artifacts.external``)."""

    file: str
    sha256: str
    bytes: int


@record(kw_only=True)
class ArtifactFile:
    kind: str
    file: str
    sha256: str
    bytes: int
    precision: str
    target: Mapping[str, Any] = field(default_factory=dict)
    parity: Parity | None = None
    # A large model's weights, stored as ONNX external data beside ``file``; () for a single-file model (the key is
    # then absent, as in manifests written before it existed).
    external: tuple[DataFile, ...] = ()


@record(kw_only=True)
class ExtraFile:
    """A file that is not a model but ships with it (a tokenizer, a vocabulary, sample inputs)."""

    file: str
    sha256: str
    bytes: int
    purpose: str = ""


@record(kw_only=True)
class CpuRecord:
    """The CPU that trained or ran a source model (``sdk.artifacts.cpu``): ``isa`` is e.g. ``avx2`` or
    ``avx512+vnni+bf16``, the instruction sets that change float kernels."""

    model: str = ""
    isa: str = ""


@record(kw_only=True)
class Source:
    framework: str
    framework_version: str = ""
    recipe: str = ""
    sha256: str = ""
    # Where the source's numbers (weights when trained in the same run, parity, metrics) were produced; None: unknown.
    cpu: CpuRecord | None = None


@record(kw_only=True)
class Manifest:
    name: str
    version: str
    source: Source
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    artifacts: tuple[ArtifactFile, ...]
    files: tuple[ExtraFile, ...] = ()
    task: str = ""
    description: str = ""
    created_at: str = field(default_factory=utc_now)
    privacy_floor: str = "public"
    labels: tuple[str, ...] | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    processors: ProcessorsSpec | None = None
    base: BaseSpec | None = None  # set on an adapted artifact (sdk adapt): its base, the files it reuses, its head
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ManifestError(f"invalid manifest for {self.name!r}: " + "; ".join(problems))

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def artifact(self, *, kind: str = "onnx", precision: str | None = None) -> ArtifactFile:
        """The artifact of ``kind`` in ``precision`` (default: fp32 if present, else the first listed)."""
        candidates = [a for a in self.artifacts if a.kind == kind]
        if precision is not None:
            candidates = [a for a in candidates if a.precision == precision]
        elif any(a.precision == "fp32" for a in candidates):
            candidates = [a for a in candidates if a.precision == "fp32"]
        if not candidates:
            have = ", ".join(f"{a.kind}/{a.precision}" for a in self.artifacts) or "none"
            wanted = f"{kind}/{precision}" if precision else kind
            raise ManifestError(f"{self.ref} has no {wanted} artifact (it has: {have})")
        return candidates[0]

    def all_files(self) -> list[tuple[str, str, int]]:
        """(file, sha256, bytes) of every file the manifest vouches for."""
        models = [(a.file, a.sha256, a.bytes) for a in self.artifacts]
        shards = [(d.file, d.sha256, d.bytes) for a in self.artifacts for d in a.external]
        return models + shards + [(f.file, f.sha256, f.bytes) for f in self.files]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "description": self.description,
            "task": self.task,
            "source": _plain(self.source),
            "inputs": [_spec_to_dict(s) for s in self.inputs],
            "outputs": [_spec_to_dict(s) for s in self.outputs],
            "artifacts": [_plain(a) for a in self.artifacts],
            "files": [_plain(f) for f in self.files],
            "privacy_floor": self.privacy_floor,
            "labels": list(self.labels) if self.labels is not None else None,
            "metrics": dict(self.metrics),
        }
        if self.processors is not None:  # optional, and absent from manifests written before it
            out["processors"] = processors_schema.to_dict(self.processors, _plain)
        if self.base is not None:  # likewise
            out["base"] = base_schema.to_dict(self.base)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, origin: str = MANIFEST_FILE) -> Manifest:
        return _manifest_from_dict(data, origin)

    @classmethod
    def from_json(cls, text: str | bytes, *, origin: str = MANIFEST_FILE) -> Manifest:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{origin} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, origin=origin)


def read_manifest(folder: str | Path) -> Manifest:
    return read_manifest_bytes(folder)[0]


def read_manifest_bytes(folder: str | Path) -> tuple[Manifest, bytes]:
    """The manifest and the exact bytes it was parsed from (what a signature check must look at)."""
    path = Path(folder) / MANIFEST_FILE
    try:
        text = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"no {MANIFEST_FILE} in {folder}", hint="is this an artifact folder?") from exc
    return Manifest.from_json(text, origin=str(path)), text


def write_manifest(folder: str | Path, manifest: Manifest) -> Path:
    path = Path(folder) / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


def safe_relative_file(name: str) -> bool:
    """A manifest may only name files inside its own folder."""
    if not name or "\\" in name or name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    return all(p not in ("", ".", "..") for p in parts) and name != MANIFEST_FILE


# --- validation -------------------------------------------------------------------------------------------------


def _problems(m: Manifest) -> list[str]:
    out: list[str] = []
    if m.schema_version != SCHEMA_VERSION:
        out.append(f"schema_version {m.schema_version} is not supported (this SDK reads {SCHEMA_VERSION})")
    if not NAME_PATTERN.match(m.name):
        out.append(f"name {m.name!r} must be lowercase letters, digits, '.', '_' or '-' (1-64 chars)")
    if not VERSION_PATTERN.match(m.version) or m.version in RESERVED_VERSIONS:
        out.append(f"version {m.version!r} must be letters, digits, '.', '_', '+' or '-' (1-64 chars)")
    if m.privacy_floor not in PRIVACY_LEVELS:
        out.append(f"privacy_floor {m.privacy_floor!r} must be one of {', '.join(PRIVACY_LEVELS)}")
    if not m.inputs:
        out.append("inputs: at least one input is required")
    if not m.outputs:
        out.append("outputs: at least one output is required")
    for group, specs in (("inputs", m.inputs), ("outputs", m.outputs)):
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            where = f"{group}[{i}]"
            if spec.name in seen:
                out.append(f"{where}.name {spec.name!r} is listed twice")
            seen.add(spec.name)
            out.extend(f"{where}.{p}" for p in _spec_problems(spec))
    if not m.artifacts:
        out.append("artifacts: at least one model file is required")
    files_seen: set[str] = set()
    for i, a in enumerate(m.artifacts):
        where = f"artifacts[{i}]"
        if a.kind not in ARTIFACT_KINDS:
            out.append(f"{where}.kind {a.kind!r} must be one of {', '.join(ARTIFACT_KINDS)}")
        if a.precision not in PRECISIONS:
            out.append(f"{where}.precision {a.precision!r} must be one of {', '.join(PRECISIONS)}")
        out.extend(f"{where}.{p}" for p in _file_problems(a.file, a.sha256, a.bytes, files_seen))
        for j, d in enumerate(a.external):
            out.extend(f"{where}.external[{j}].{p}" for p in _file_problems(d.file, d.sha256, d.bytes, files_seen))
        if a.parity is not None and not math.isfinite(a.parity.tolerance):
            out.append(f"{where}.parity: tolerance must be a finite number")
        if a.parity is not None and not a.parity.passed and not (a.parity.waiver or "").strip():
            out.append(f"{where}.parity failed and records no waiver: such an artifact must not ship")
    for i, f in enumerate(m.files):
        out.extend(f"files[{i}].{p}" for p in _file_problems(f.file, f.sha256, f.bytes, files_seen))
    if m.labels is not None and not all(isinstance(label, str) for label in m.labels):
        out.append("labels must be strings")
    if m.processors is not None:
        found = processors_schema.problems(
            m.processors,
            inputs=m.inputs,
            outputs=m.outputs,
            files=[f.file for f in m.files],
            labels=m.labels,
        )
        out.extend(f"processors: {p}" for p in found)
    if m.base is not None:
        found = base_schema.problems(m.base, artifacts=[a.file for a in m.artifacts], files=[f.file for f in m.files])
        out.extend(f"base: {p}" for p in found)
    return out


def _spec_problems(spec: TensorSpec) -> list[str]:
    out: list[str] = []
    if not spec.name:
        out.append("name must not be empty")
    if spec.dtype not in DTYPES:
        out.append(f"dtype {spec.dtype!r} must be one of {', '.join(DTYPES)}")
    if not all(isinstance(d, int) and (d == -1 or d > 0) for d in spec.shape):
        out.append(f"shape {list(spec.shape)} must hold positive sizes or -1 for dynamic dimensions")
    if spec.dim_names is not None and len(spec.dim_names) != len(spec.shape):
        out.append(f"dim_names has {len(spec.dim_names)} entries for a rank-{len(spec.shape)} shape")
    if spec.max_shape is not None:
        if len(spec.max_shape) != len(spec.shape):
            out.append(f"max_shape has {len(spec.max_shape)} entries for a rank-{len(spec.shape)} shape")
        elif any(fixed != -1 and bound not in (-1, fixed) for fixed, bound in zip(spec.shape, spec.max_shape)):
            out.append("max_shape may only bound dynamic (-1) dimensions")
    return out


def _file_problems(name: str, sha256: str, size: int, seen: set[str]) -> list[str]:
    out: list[str] = []
    if not safe_relative_file(name):
        out.append(f"file {name!r} must be a relative path inside the artifact folder")
    if name in seen:
        out.append(f"file {name!r} is listed twice")
    seen.add(name)
    if not SHA256_PATTERN.match(sha256):
        out.append(f"sha256 of {name!r} must be 64 lowercase hex characters")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        out.append(f"bytes of {name!r} must be a non-negative integer")
    return out


# --- (de)serialisation ---------------------------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    if isinstance(obj, Source) and obj.cpu is None:  # optional, and absent from manifests written before it
        return {k: _plain(v) for k, v in obj.__dict__.items() if k != "cpu"}
    if isinstance(obj, ArtifactFile) and not obj.external:  # likewise
        return {k: _plain(v) for k, v in obj.__dict__.items() if k != "external"}
    if isinstance(obj, (Source, CpuRecord, ArtifactFile, ExtraFile, Parity, DataFile)):
        return {k: _plain(v) for k, v in obj.__dict__.items()}
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj


def _spec_to_dict(spec: TensorSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "dtype": spec.dtype,
        "shape": list(spec.shape),
        "dim_names": list(spec.dim_names) if spec.dim_names is not None else None,
        "max_shape": list(spec.max_shape) if spec.max_shape is not None else None,
        "allow_non_finite": spec.allow_non_finite,
        "description": spec.description,
    }


def _keys(cls: Any) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


SIGNATURE_FIELD = "signature"  # written by sdk.artifacts.signing, over everything else in the manifest
SIGNATURE_KEYS = frozenset({"algorithm", "key_id", "value"})
TOP_KEYS = _keys(Manifest) | {SIGNATURE_FIELD}


def _check_schema_version(r: JsonReader, d: Mapping[str, Any]) -> None:
    """First of all: a newer schema may add or rename keys, and its reader must say so, not name one of them."""
    version = r.get(d, "schema_version", int, "")
    if version > SCHEMA_VERSION:
        raise r.fail(
            "schema_version",
            f"{version} is not supported (this SDK reads {SCHEMA_VERSION}): a newer aiaas-sdk wrote this manifest",
            hint="upgrade aiaas-sdk (pip install -U aiaas-sdk) to load it",
        )


def _spec_from_dict(r: JsonReader, data: Any, where: str) -> TensorSpec:
    d = r.only(r.obj(data, where), _keys(TensorSpec), where)
    names = r.get(d, "dim_names", list, where, default=None)
    if names is not None and not all(n is None or isinstance(n, str) for n in names):
        raise r.fail(f"{where}.dim_names", "must hold strings or null")
    shape = r.int_list(d, "shape", where)
    assert shape is not None
    return TensorSpec(
        name=r.get(d, "name", str, where),
        dtype=r.get(d, "dtype", str, where),
        shape=shape,
        dim_names=tuple(names) if names is not None else None,
        max_shape=r.int_list(d, "max_shape", where, optional=True),
        allow_non_finite=r.get(d, "allow_non_finite", bool, where, default=False),
        description=r.get(d, "description", str, where, default=""),
    )


def _parity_from_dict(r: JsonReader, data: Any, where: str) -> Parity | None:
    if data is None:
        return None
    d = r.only(r.obj(data, where), _keys(Parity), where)
    extra = r.obj(r.get(d, "extra", dict, where, default={}), f"{where}.extra")
    return Parity(
        reference=r.get(d, "reference", str, where),
        metric=r.get(d, "metric", str, where),
        value=float(r.get(d, "value", (int, float), where)),
        tolerance=float(r.get(d, "tolerance", (int, float), where)),
        passed=r.get(d, "passed", bool, where),
        samples=r.get(d, "samples", int, where),
        extra={str(k): float(v) for k, v in extra.items()},
        waiver=r.get(d, "waiver", str, where, default=None),
    )


def _external_from_dict(r: JsonReader, data: Any, where: str) -> tuple[DataFile, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise r.fail(where, "must be a list of {file, sha256, bytes}")
    out = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]"
        d = r.only(r.obj(item, at), _keys(DataFile), at)
        out.append(
            DataFile(
                file=r.get(d, "file", str, at), sha256=r.get(d, "sha256", str, at), bytes=r.get(d, "bytes", int, at)
            )
        )
    return tuple(out)


def _source_from_dict(r: JsonReader, data: Any) -> Source:
    src = r.only(r.obj(data, "source"), _keys(Source), "source")
    cpu = None
    if src.get("cpu") is not None:
        c = r.only(r.obj(src["cpu"], "source.cpu"), _keys(CpuRecord), "source.cpu")
        cpu = CpuRecord(model=r.get(c, "model", str, "source.cpu", default=""), isa=r.get(c, "isa", str, "source.cpu"))
    return Source(
        framework=r.get(src, "framework", str, "source"),
        framework_version=r.get(src, "framework_version", str, "source", default=""),
        recipe=r.get(src, "recipe", str, "source", default=""),
        sha256=r.get(src, "sha256", str, "source", default=""),
        cpu=cpu,
    )


def _manifest_from_dict(data: Any, origin: str) -> Manifest:
    r = JsonReader(origin)
    d = r.obj(data, "manifest")
    _check_schema_version(r, d)
    r.only(d, TOP_KEYS, "")
    if d.get(SIGNATURE_FIELD) is not None:
        r.only(r.obj(d[SIGNATURE_FIELD], SIGNATURE_FIELD), SIGNATURE_KEYS, SIGNATURE_FIELD)
    source = _source_from_dict(r, r.get(d, "source", dict, ""))
    artifacts = []
    for i, item in enumerate(r.get(d, "artifacts", list, "")):
        where = f"artifacts[{i}]"
        a = r.only(r.obj(item, where), _keys(ArtifactFile), where)
        artifacts.append(
            ArtifactFile(
                kind=r.get(a, "kind", str, where),
                file=r.get(a, "file", str, where),
                sha256=r.get(a, "sha256", str, where),
                bytes=r.get(a, "bytes", int, where),
                precision=r.get(a, "precision", str, where),
                target=dict(r.obj(r.get(a, "target", dict, where, default={}), f"{where}.target")),
                parity=_parity_from_dict(r, a.get("parity"), f"{where}.parity"),
                external=_external_from_dict(r, a.get("external"), f"{where}.external"),
            )
        )
    files = []
    for i, item in enumerate(r.get(d, "files", list, "", default=[])):
        where = f"files[{i}]"
        f = r.only(r.obj(item, where), _keys(ExtraFile), where)
        files.append(
            ExtraFile(
                file=r.get(f, "file", str, where),
                sha256=r.get(f, "sha256", str, where),
                bytes=r.get(f, "bytes", int, where),
                purpose=r.get(f, "purpose", str, where, default=""),
            )
        )
    labels = r.get(d, "labels", list, "", default=None)
    metrics = r.obj(r.get(d, "metrics", dict, "", default={}), "metrics")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values()):
        raise r.fail("metrics", "values must be numbers")
    processors = None
    if d.get("processors") is not None:
        processors = processors_schema.from_dict(r, d["processors"], _parity_from_dict)
    base = base_schema.from_dict(r, d["base"]) if d.get("base") is not None else None
    try:
        return _build_manifest(r, d, source, artifacts, files, labels, metrics, processors, base)
    except ManifestError as exc:
        if exc.message.startswith(origin):
            raise
        raise ManifestError(f"{origin}: {exc.message}") from None


def _build_manifest(
    r: JsonReader,
    d: Mapping[str, Any],
    source: Source,
    artifacts: list[ArtifactFile],
    files: list[ExtraFile],
    labels: list[Any] | None,
    metrics: Mapping[str, Any],
    processors: ProcessorsSpec | None,
    base: BaseSpec | None = None,
) -> Manifest:
    return Manifest(
        schema_version=r.get(d, "schema_version", int, ""),
        name=r.get(d, "name", str, ""),
        version=r.get(d, "version", str, ""),
        created_at=r.get(d, "created_at", str, "", default=""),
        description=r.get(d, "description", str, "", default=""),
        task=r.get(d, "task", str, "", default=""),
        source=source,
        inputs=tuple(_spec_from_dict(r, s, f"inputs[{i}]") for i, s in enumerate(r.get(d, "inputs", list, ""))),
        outputs=tuple(_spec_from_dict(r, s, f"outputs[{i}]") for i, s in enumerate(r.get(d, "outputs", list, ""))),
        artifacts=tuple(artifacts),
        files=tuple(files),
        privacy_floor=r.get(d, "privacy_floor", str, "", default="public"),
        labels=tuple(labels) if labels is not None else None,
        metrics={str(k): float(v) for k, v in metrics.items()},
        processors=processors,
        base=base,
    )
