"""What the server says of its models: one model's metadata (``GET /v2/models/{name}``, the Open Inference Protocol's)
and the list of every served model (``GET /v2/models``, what the page shows).

Both are read from the manifest the served version was verified and loaded with, never a second read of its file.
"""

from __future__ import annotations

from typing import Any

from sdk.artifacts.manifest import Manifest
from sdk.errors import AiaasError
from sdk.runtime import LoadedModel
from sdk.serving import raw
from sdk.serving.checks import tensor_metadata
from sdk.serving.repository import ModelRepository


def model_metadata(model: LoadedModel, versions: list[str]) -> dict[str, Any]:
    """OIP model metadata, with the privacy floor (a client honours it before sending any data) and the raw input."""
    manifest = model.manifest
    kinds = {a.kind for a in manifest.artifacts}
    document: dict[str, Any] = {
        "name": manifest.name,
        "versions": versions or [manifest.version],
        "platform": "onnxruntime_onnx" if "onnx" in kinds else "tensorrt_plan",
        "inputs": [tensor_metadata(s.name, s.dtype, s.shape) for s in manifest.inputs],
        "outputs": [tensor_metadata(s.name, s.dtype, s.shape) for s in manifest.outputs],
        "parameters": {"privacy_floor": manifest.privacy_floor, "version": manifest.version, **running(model)},
    }
    advertised = raw.metadata(model)
    if advertised is not None:  # raw text or images, as one BYTES input, answered with the processed outputs
        document["parameters"]["raw_input"] = advertised
    return document


def running(model: LoadedModel) -> dict[str, str]:
    """Which of the version's artifact files answers, on which engine, and why that one (the engine choice's reason
    when it chose among several): what `sdk models show` predicts, as the server actually loaded it."""
    info = model.info
    shown = {
        "artifact": info.artifact,
        "precision": info.precision,
        "runtime": f"{info.runtime} {info.runtime_version}".strip(),
    }
    chosen = info.extra.get("backend_choice") or {}
    reason = chosen.get("reason") if isinstance(chosen, dict) else None
    if isinstance(reason, str) and reason:
        shown["chosen"] = reason
    return shown


def model_list(repository: ModelRepository, *, explain: bool) -> dict[str, Any]:
    """Every served model's default version: metadata, privacy floor, signature, raw input kind, explain on or off.
    A model that cannot be loaded is listed with its error (its status and message), not left out."""
    models: list[dict[str, Any]] = []
    for name in repository.names():
        try:
            if repository.budget is not None:  # listing a model never loads it (nor waits for memory)
                held = repository.held(name)
                if held is None:
                    models.append(_not_loaded(repository, name, explain=explain))
                    continue
                held.release()  # the model's metadata outlives an eviction: only the session is closed
                model = held.model
            else:
                model = repository.get(name)
        except AiaasError as exc:
            models.append({"name": name, "error": {"status": exc.status, "message": exc.message, "code": exc.code}})
            continue
        meta = model_metadata(model, repository.versions(name))
        parameters = meta.pop("parameters")
        kind = model.processors.kind if model.processors is not None else None
        labels = model.manifest.labels
        models.append(
            {
                **meta,
                "version": model.manifest.version,
                "privacy_floor": parameters["privacy_floor"],
                "signature": repository.signature(model).to_json(),
                "raw_input": kind,  # text | image | series | None (tensors only)
                "wire_input": parameters.get("raw_input"),  # how the raw input travels, when it travels raw
                "labels": list(labels) if labels else None,
                "runs": {k: parameters[k] for k in ("artifact", "precision", "runtime", "chosen") if k in parameters},
                "explain": explain,
                "ready": True,
                **({"state": "loaded"} if repository.budget is not None else {}),
            }
        )
    return {"models": models}


def _not_loaded(repository: ModelRepository, name: str, *, explain: bool) -> dict[str, Any]:
    """A model not loaded now, under a memory budget: what its manifest says, and ``state`` ``evicted`` (loaded
    before, closed to make room) or ``unloaded``; its next request loads it (``ready``: it can be served)."""
    manifest = repository.resolve(name).manifest()
    return {
        "name": name,
        "versions": repository.versions(name) or [manifest.version],
        "platform": "onnxruntime_onnx" if any(a.kind == "onnx" for a in manifest.artifacts) else "tensorrt_plan",
        "inputs": [tensor_metadata(s.name, s.dtype, s.shape) for s in manifest.inputs],
        "outputs": [tensor_metadata(s.name, s.dtype, s.shape) for s in manifest.outputs],
        "version": manifest.version,
        "privacy_floor": manifest.privacy_floor,
        "raw_input": _raw_kind(manifest),
        "labels": list(manifest.labels) if manifest.labels else None,
        "explain": explain,
        "ready": True,
        "state": repository.state(name),
    }


def _raw_kind(manifest: Manifest) -> str | None:
    """``text``, ``image`` or ``series`` (the raw input the manifest's processors take), or None: tensors only."""
    processors = manifest.processors
    if processors is None:
        return None
    kinds = {"text": processors.text, "image": processors.image, "series": processors.series}
    return next((kind for kind, spec in kinds.items() if spec is not None), None)
