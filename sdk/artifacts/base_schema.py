"""The manifest's optional ``base`` block: what an adapted artifact (``sdk adapt``, head mode) was made from::

    "base": {"name": "digits-cnn", "version": "1",
             "manifest_sha256": "<sha256 of the base's manifest.json>",
             "files": {"model.onnx": "<sha256>", "tokenizer.json": "<sha256>"},
             "feature": "embedding", "head": "head.onnx", "mode": "head"}

``files`` are the base's files this artifact reuses, each with the sha256 the base lists it under: the same bytes, so
a store or a device that holds the base already holds them (the delta is the head and the manifest). The runtime
chains the two graphs (``sdk.runtime.chained``): the base's model, its output ``feature``, then ``head`` (a file in
the manifest's ``files``). Why two graphs and not one merged graph: a merged graph either copies the base's weights
(the delta would be the whole model) or points into the base's file as ONNX external data, which the engine reads
from disk after we verified it; chained, the engine gets the very bytes that were checked, for both graphs.

Every artifact a head-mode manifest lists is one of the base's files (the head was fitted on that graph's features);
a manifest without the block is written exactly as before it existed.

``"mode": "finetune"`` (``sdk adapt --mode finetune``) records lineage only: the weights were trained further, so the
artifacts are new files, exported and gated like any compiled model; ``files`` lists whatever it still shares with
the base byte for byte (a tokenizer; may be empty), and ``feature``/``head`` are empty (nothing is chained).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from sdk._record import record
from sdk.artifacts.json_reader import SHA256_PATTERN, JsonReader

MODES = ("head", "finetune")
HEAD, FINETUNE = MODES


@record(kw_only=True)
class BaseSpec:
    name: str
    version: str
    manifest_sha256: str
    files: Mapping[str, str]  # the base's file -> its sha256 there
    feature: str = ""  # the base's output the head reads (head mode)
    head: str = ""  # the head's graph, one of the manifest's files (head mode)
    mode: str = "head"

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def problems(spec: BaseSpec, *, artifacts: Sequence[str], files: Sequence[str]) -> list[str]:
    """What is wrong with the block, given the manifest's artifact files and extra files."""
    out: list[str] = []
    if spec.mode not in MODES:
        out.append(f"mode {spec.mode!r} must be one of {', '.join(MODES)}")
    if not spec.name or not spec.version:
        out.append("name and version must name the base artifact")
    if not SHA256_PATTERN.match(spec.manifest_sha256):
        out.append("manifest_sha256 must be 64 lowercase hex characters")
    for file, sha256 in spec.files.items():
        if not SHA256_PATTERN.match(sha256):
            out.append(f"files[{file!r}] must be a sha256 (64 lowercase hex characters)")
        if file not in artifacts and file not in files:
            out.append(f"files names {file!r}, which the manifest does not list")
    if spec.mode == FINETUNE:
        if spec.feature or spec.head:
            out.append("a finetune block chains nothing: feature and head must be empty")
        return out
    if not spec.files:
        out.append("files must list the base's model file(s) this artifact runs")
    for file in artifacts:
        if file not in spec.files:
            out.append(f"artifact {file!r} is not one of the base's files: its features are not the head's")
    if not spec.feature:
        out.append("feature must name the base output the head reads")
    if spec.head not in files:
        out.append(f"head {spec.head!r} is not one of the manifest's files (it must be hashed)")
    if spec.head in spec.files:
        out.append(f"head {spec.head!r} is listed as one of the base's files")
    return out


def to_dict(spec: BaseSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "version": spec.version,
        "manifest_sha256": spec.manifest_sha256,
        "files": dict(spec.files),
        "feature": spec.feature,
        "head": spec.head,
        "mode": spec.mode,
    }


def from_dict(r: JsonReader, data: Any) -> BaseSpec:
    where = "base"
    d = r.only(r.obj(data, where), frozenset(f.name for f in fields(BaseSpec)), where)
    files = r.obj(r.get(d, "files", dict, where, default={}), f"{where}.files")
    if not all(isinstance(v, str) for v in files.values()):
        raise r.fail(f"{where}.files", "values must be sha256 strings")
    return BaseSpec(
        name=r.get(d, "name", str, where),
        version=r.get(d, "version", str, where),
        manifest_sha256=r.get(d, "manifest_sha256", str, where),
        files=dict(files),
        feature=r.get(d, "feature", str, where, default=""),
        head=r.get(d, "head", str, where, default=""),
        mode=r.get(d, "mode", str, where, default="head"),
    )


def reused(spec: BaseSpec | None) -> Mapping[str, str]:
    """file -> sha256 of the files an adapted artifact shares with its base (empty for any other artifact)."""
    return spec.files if spec is not None else {}
