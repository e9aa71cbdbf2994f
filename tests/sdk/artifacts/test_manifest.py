from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdk.artifacts import Manifest, read_manifest, write_manifest
from sdk.errors import ManifestError


def _raw(digits_artifact: Path) -> dict[str, Any]:
    return json.loads((digits_artifact / "manifest.json").read_text())


def test_round_trip_keeps_every_field(digits_artifact: Path, tmp_path: Path) -> None:
    manifest = read_manifest(digits_artifact)
    write_manifest(tmp_path, manifest)
    again = read_manifest(tmp_path)
    assert again == manifest
    assert again.to_dict() == _raw(digits_artifact)


def test_shipped_manifest_records_what_design_asks(digits_artifact: Path) -> None:
    m = read_manifest(digits_artifact)
    assert (m.name, m.version, m.task, m.privacy_floor) == ("digits-cnn", "1", "classification", "public")
    assert m.source.framework == "pytorch" and len(m.source.sha256) == 64
    assert m.inputs[0].shape == (-1, 1, 8, 8) and m.inputs[0].dtype == "float32"
    art = m.artifact()
    assert art.kind == "onnx" and art.precision == "fp32" and art.bytes > 0
    assert art.parity is not None and art.parity.passed and art.parity.value <= art.parity.tolerance
    assert m.labels == tuple(str(d) for d in range(10))
    assert m.metrics["test_accuracy"] >= 0.98


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("name",), "Digits CNN", "name 'Digits CNN'"),
        (("version",), "../1", "version"),
        (("version",), "aliases", "version"),
        (("privacy_floor",), "secret", "privacy_floor"),
        (("schema_version",), 9, "schema_version 9"),
        (("inputs", 0, "dtype"), "complex64", "inputs[0].dtype"),
        (("inputs", 0, "shape"), [0, 1, 8, 8], "inputs[0].shape"),
        (("inputs", 0, "shape"), ["batch", 1], "inputs[0].shape"),
        (("inputs", 0, "dim_names"), ["batch"], "inputs[0].dim_names"),
        (("outputs", 1, "name"), "logits", "outputs[1].name 'logits' is listed twice"),
        (("artifacts", 0, "file"), "../../etc/passwd", "inside the artifact folder"),
        (("artifacts", 0, "file"), "/abs/model.onnx", "relative path"),
        (("artifacts", 0, "sha256"), "abc", "sha256"),
        (("artifacts", 0, "bytes"), -1, "bytes"),
        (("artifacts", 0, "bytes"), "12", "artifacts[0].bytes must be int"),
        (("artifacts", 0, "kind"), "pickle", "kind 'pickle'"),
        (("artifacts", 0, "precision"), "fp8", "precision 'fp8'"),
        (("artifacts",), [], "at least one model file"),
        (("inputs",), [], "at least one input"),
        (("metrics",), {"acc": "high"}, "metrics"),
    ],
)
def test_invalid_manifest_names_the_field(
    digits_artifact: Path, path: tuple[Any, ...], value: Any, message: str
) -> None:
    data = _raw(digits_artifact)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ManifestError, match=r"manifest\.json") as info:
        Manifest.from_dict(data)
    assert message in str(info.value)


def test_failed_parity_needs_a_recorded_waiver(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    data["artifacts"][0]["parity"]["passed"] = False
    with pytest.raises(ManifestError, match=r"artifacts\[0\]\.parity failed and records no waiver"):
        Manifest.from_dict(data)
    data["artifacts"][0]["parity"]["waiver"] = "edge demo only"
    assert Manifest.from_dict(data).artifacts[0].parity.waiver == "edge demo only"


def test_missing_required_field_is_named(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    del data["artifacts"][0]["sha256"]
    with pytest.raises(ManifestError, match=r"artifacts\[0\]\.sha256 is required"):
        Manifest.from_dict(data)


def test_malformed_json_is_a_manifest_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no manifest.json"):
        read_manifest(tmp_path)


def test_artifact_lookup_by_precision(digits_artifact: Path) -> None:
    m = read_manifest(digits_artifact)
    assert m.artifact(precision="fp32").file == "model.onnx"
    with pytest.raises(ManifestError, match="no onnx/int8 artifact"):
        m.artifact(precision="int8")
