from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdk.artifacts import Manifest, read_manifest, write_manifest
from sdk.artifacts.manifest import CpuRecord
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
    parity = Manifest.from_dict(data).artifacts[0].parity
    assert parity is not None and parity.waiver == "edge demo only"


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


# --- keys this SDK does not know ----------------------------------------------------------------------------------


def _with_extra_file(data: dict[str, Any]) -> dict[str, Any]:
    data["files"] = [{"file": "tokenizer.json", "sha256": "0" * 64, "bytes": 3, "purpose": "tokenizer"}]
    return data


def _signed(data: dict[str, Any]) -> dict[str, Any]:
    data["signature"] = {"algorithm": "ed25519", "key_id": "0123456789abcdef", "value": "c2ln"}
    return data


def _with_cpu(data: dict[str, Any]) -> dict[str, Any]:
    data["source"]["cpu"] = {"model": "AMD EPYC 7B13", "isa": "avx2"}
    return data


@pytest.mark.parametrize(
    ("path", "typo", "where", "meant"),
    [
        ((), "privacy_flor", "the manifest", "privacy_floor"),
        (("source",), "framwork_version", "source", "framework_version"),
        (("source", "cpu"), "isaa", "source.cpu", "isa"),
        (("inputs", 0), "max_shap", "inputs[0]", "max_shape"),
        (("outputs", 1), "dim_name", "outputs[1]", "dim_names"),
        (("artifacts", 0), "precison", "artifacts[0]", "precision"),
        (("artifacts", 0, "parity"), "waver", "artifacts[0].parity", "waiver"),
        (("files", 0), "purpos", "files[0]", "purpose"),
        (("signature",), "keyid", "signature", "key_id"),
    ],
)
def test_misspelt_key_at_any_level_is_refused_naming_where_and_the_likely_key(
    digits_artifact: Path, path: tuple[Any, ...], typo: str, where: str, meant: str
) -> None:
    data = _signed(_with_cpu(_with_extra_file(_raw(digits_artifact))))
    Manifest.from_dict(data)  # loads as it is: only the misspelt key is wrong
    node = data
    for key in path:
        node = node[key]
    node[typo] = node.pop(meant, "x")
    with pytest.raises(ManifestError) as info:
        Manifest.from_dict(data)
    assert str(info.value) == f"manifest.json: {where} has an unknown key {typo!r} (did you mean {meant!r}?)"
    assert info.value.hint is not None and "upgrade aiaas-sdk" in info.value.hint
    assert info.value.status == 422


def test_misspelt_privacy_floor_never_loads_as_a_public_model(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    del data["privacy_floor"]
    data["privacy_flor"] = "private"
    with pytest.raises(ManifestError, match=r"'privacy_flor' \(did you mean 'privacy_floor'\?\)"):
        Manifest.from_dict(data)


def test_unknown_key_with_no_close_match_lists_the_known_ones(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    data["artifacts"][0]["parity"]["zzz"] = 1
    with pytest.raises(ManifestError) as info:
        Manifest.from_dict(data)
    message = str(info.value)
    assert message.startswith("manifest.json: artifacts[0].parity has an unknown key 'zzz'; it knows ")
    assert "did you mean" not in message and "reference" in message and "waiver" in message


def test_open_fields_take_any_key(digits_artifact: Path) -> None:
    """``target`` carries engine-specific keys (TensorRT, OpenVINO...), ``metrics`` and ``parity.extra`` named
    numbers: a new key there is data, not a typo."""
    data = _raw(digits_artifact)
    data["artifacts"][0]["target"]["compute_capability"] = "9.0"
    data["metrics"]["int8.openvino.accuracy"] = 0.98
    data["artifacts"][0]["parity"]["extra"]["cosine.min"] = 0.999
    m = Manifest.from_dict(data)
    assert m.artifact().target["compute_capability"] == "9.0"
    assert m.metrics["int8.openvino.accuracy"] == 0.98
    parity = m.artifact().parity
    assert parity is not None and parity.extra["cosine.min"] == 0.999


def test_newer_schema_version_says_so_before_naming_its_new_keys(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    data["schema_version"] = 2
    data["processors"] = [{"kind": "tokenizer"}]  # what a newer writer might add
    del data["privacy_floor"]
    data["privacy"] = {"floor": "private"}  # or rename
    with pytest.raises(ManifestError) as info:
        Manifest.from_dict(data)
    assert str(info.value) == (
        "manifest.json: schema_version 2 is not supported (this SDK reads 1): a newer aiaas-sdk wrote this manifest"
    )
    assert info.value.hint is not None and "upgrade aiaas-sdk" in info.value.hint


def test_every_shipped_manifest_loads_and_round_trips_byte_for_byte(repo: Path) -> None:
    shipped = sorted((repo / "sdk" / "_embedded").glob("*/*/manifest.json"))
    assert shipped, "the package ships at least the digits model"
    for path in shipped:
        manifest = read_manifest(path.parent)
        assert manifest.to_json() == path.read_text(encoding="utf-8"), path
        assert "cpu" not in json.loads(manifest.to_json())["source"]  # optional: absent where it was never recorded


def test_source_cpu_round_trips(digits_artifact: Path, tmp_path: Path) -> None:
    manifest = Manifest.from_dict(_with_cpu(_raw(digits_artifact)))
    assert manifest.source.cpu == CpuRecord(model="AMD EPYC 7B13", isa="avx2")
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["source"]["cpu"] == {
        "model": "AMD EPYC 7B13",
        "isa": "avx2",
    }
