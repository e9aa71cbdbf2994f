"""The manifest's ``processors`` block: it round-trips, refuses unknown keys at every level, checks itself against the
model's inputs, outputs, files and labels, and leaves a manifest without it byte for byte as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdk.artifacts import Manifest, read_manifest, write_manifest
from sdk.errors import ManifestError


def _raw(digits_artifact: Path) -> dict[str, Any]:
    return json.loads((digits_artifact / "manifest.json").read_text())


def test_the_shipped_digits_model_declares_png_in_and_top_3_digits_out(digits_artifact: Path) -> None:
    spec = read_manifest(digits_artifact).processors
    assert spec is not None and spec.image is not None and spec.output is not None
    assert (spec.image.input, spec.image.mode, spec.image.size, spec.image.layout) == ("image", "L", (8, 8), "NCHW")
    assert spec.image.scale == pytest.approx(1 / 255)
    assert (spec.output.kind, spec.output.output, spec.output.top_k) == ("classes", "probabilities", 3)
    assert spec.parity is not None and spec.parity.passed and spec.parity.samples == 360
    assert spec.parity.extra["max_abs_diff"] <= spec.parity.extra["float_tolerance"] == 1e-6


def test_processors_round_trip(digits_artifact: Path, tmp_path: Path) -> None:
    manifest = read_manifest(digits_artifact)
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    assert json.loads((tmp_path / "manifest.json").read_text())["processors"] == _raw(digits_artifact)["processors"]


def test_a_manifest_without_processors_is_written_as_before_the_block_existed(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    del data["processors"]
    manifest = Manifest.from_dict(data)
    assert manifest.processors is None
    assert manifest.to_json() == json.dumps(data, indent=2) + "\n"


TEXT = {
    "tokenizer": "tokenizer.json",
    "max_length": 16,
    "fills": {"image": "ids"},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(zzz=1), "processors has an unknown key 'zzz'"),
        (lambda p: p["image"].update(scal=0.5), "processors.image has an unknown key 'scal' (did you mean 'scale'?)"),
        (lambda p: p["output"].update(normalize="l2"), "processors.output has an unknown key 'normalize'"),
        (lambda p: p["output"].update(kind="regression"), "processors.output.kind 'regression' must be one of"),
        (lambda p: p["image"].update(size=[8]), "size [8] must be [height, width]"),
        (lambda p: p["image"].update(layout="NHWC"), "makes [batch, 8, 8, 1] float for 'image'"),
        (lambda p: p["image"].update(mode="RGB"), "makes [batch, 3, 8, 8] float"),
        (lambda p: p["image"].update(mode="CMYK"), "mode 'CMYK' must be one of L, RGB"),
        (lambda p: p["image"].update(std=[0.0]), "std non-zero"),
        (lambda p: p["image"].update(input="pixels"), "input 'pixels' is not a model input"),
        (lambda p: p["image"].update(mean="0"), "processors.image.mean must be list"),
        (lambda p: p["output"].update(output="scores"), "output 'scores' is not a model output"),
        (lambda p: p["output"].update(top_k=11), "top_k 11 must be between 1 and the number of labels"),
        (lambda p: p.update(text=TEXT), "declares text and image: a model takes one kind of raw input"),
        (lambda p: p["parity"].update(passed=False), "processors: parity failed and records no waiver"),
    ],
)
def test_a_wrong_processors_block_names_the_field(digits_artifact: Path, change: Any, message: str) -> None:
    data = _raw(digits_artifact)
    change(data["processors"])
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(data)
    assert message in str(caught.value)


def test_a_text_processor_must_read_a_hashed_file_and_fill_every_input(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    data["processors"] = {"text": TEXT}
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(data)
    message = str(caught.value)
    assert "tokenizer 'tokenizer.json' is not one of the manifest's files (it must be hashed)" in message
    assert "fills 'image', which is not an integer [batch, sequence] input" in message


def test_classes_need_the_manifests_labels(digits_artifact: Path) -> None:
    data = _raw(digits_artifact)
    data["labels"] = None
    with pytest.raises(ManifestError, match="classes needs the manifest's labels"):
        Manifest.from_dict(data)
