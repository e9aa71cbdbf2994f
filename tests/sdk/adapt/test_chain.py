"""The runtime's chain (base graph, then head graph) refuses any file that is not the one the head was fitted on, and
the manifest's ``base`` block is checked like the rest of the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sdk
from sdk.artifacts import read_manifest
from sdk.artifacts.integrity import sha256_bytes
from sdk.errors import IntegrityError, ManifestError
from sdk.runtime.chained import ChainedBackend
from tests.sdk.onnx_models import two_input_model


def edit_manifest(folder: Path, change) -> None:
    data = json.loads((folder / "manifest.json").read_text())
    change(data)
    (folder / "manifest.json").write_text(json.dumps(data))


def test_the_loaded_model_runs_the_base_then_the_head(odd_even_copy: Path, digit_7: np.ndarray) -> None:
    model = sdk.load(odd_even_copy)
    assert isinstance(model.backend, ChainedBackend)
    assert model.backend.feature == "logits"
    assert any("head.onnx runs on the base's 'logits' output" in note for note in model.info.notes)
    logits = sdk.load("digits-cnn")({"image": digit_7})["logits"]
    direct = model.backend.head.run({"features": logits})["probabilities"]
    assert np.array_equal(model({"image": digit_7})["probabilities"], direct)


def test_a_tampered_base_model_file_is_refused(odd_even_copy: Path) -> None:
    data = bytearray((odd_even_copy / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (odd_even_copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.onnx failed its sha256 check"):
        sdk.load(odd_even_copy)


def test_another_model_under_the_base_name_is_refused_though_its_manifest_entry_matches(
    odd_even_copy: Path,
) -> None:
    """Swap model.onnx for another graph and update the artifact's entry to match it: the bytes verify, but they are
    not the base's file the head was fitted on."""
    other = two_input_model()
    (odd_even_copy / "model.onnx").write_bytes(other)

    def swap(data: dict) -> None:
        data["artifacts"][0].update(sha256=sha256_bytes(other), bytes=len(other))

    edit_manifest(odd_even_copy, swap)
    with pytest.raises(IntegrityError, match="not the file of digits-cnn@1 that head.onnx was fitted on"):
        sdk.load(odd_even_copy)


def test_a_tampered_head_is_refused(odd_even_copy: Path) -> None:
    data = bytearray((odd_even_copy / "head.onnx").read_bytes())
    data[-5] ^= 0x01
    (odd_even_copy / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="head.onnx failed its sha256 check"):
        sdk.load(odd_even_copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.update(head="missing.onnx"), "head 'missing.onnx' is not one of the manifest's files"),
        (lambda b: b.update(files={}), "files must list the base's model file"),
        (lambda b: b.update(files={"model.onnx": "0" * 63}), "must be a sha256"),
        (lambda b: b.update(feature=""), "feature must name the base output"),
        (lambda b: b.update(mode="lora"), "mode 'lora' must be one of head, finetune"),
        (lambda b: b.update(headd="head.onnx"), "unknown key 'headd'"),
    ],
    ids=["head-not-listed", "no-base-files", "bad-sha", "no-feature", "unknown-mode", "misspelt-key"],
)
def test_an_inconsistent_base_block_is_refused(odd_even_copy: Path, change, message: str) -> None:
    edit_manifest(odd_even_copy, lambda data: change(data["base"]))
    with pytest.raises(ManifestError, match=message):
        read_manifest(odd_even_copy)


def test_a_feature_the_base_lacks_is_refused_at_load(odd_even_copy: Path) -> None:
    edit_manifest(odd_even_copy, lambda data: data["base"].update(feature="penultimate"))
    with pytest.raises(ManifestError, match="reads the base output 'penultimate', which the model does not have"):
        sdk.load(odd_even_copy)


def test_the_base_block_round_trips(odd_even_copy: Path) -> None:
    text = (odd_even_copy / "manifest.json").read_text()
    manifest = read_manifest(odd_even_copy)
    assert json.loads(manifest.to_json()) == json.loads(text)
