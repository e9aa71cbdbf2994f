"""The manifest's ``base`` block in its two modes: head (the base's files chained with a head) and finetune (lineage
only: new weights, run like any compiled model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import sdk
from sdk.artifacts.integrity import sha256_file
from sdk.artifacts.manifest import MANIFEST_FILE, Manifest
from sdk.errors import ManifestError

EMBEDDED = Path(sdk.__file__).parent / "_embedded" / "digits-cnn" / "1"


def _document(**base: object) -> dict:
    document = json.loads((EMBEDDED / MANIFEST_FILE).read_text())
    document.pop("signature", None)
    document["base"] = {"name": "digits-cnn", "version": "1", "manifest_sha256": "a" * 64, **base}
    return document


def test_a_finetune_block_needs_no_reused_files_head_or_feature() -> None:
    manifest = Manifest.from_json(json.dumps(_document(mode="finetune")))
    assert manifest.base is not None
    assert manifest.base.mode == "finetune"
    assert dict(manifest.base.files) == {} and manifest.base.head == "" and manifest.base.feature == ""
    again = Manifest.from_json(manifest.to_json())
    assert again.base == manifest.base


def test_a_finetune_block_that_names_a_head_is_refused() -> None:
    with pytest.raises(ManifestError, match="finetune block chains nothing"):
        Manifest.from_json(json.dumps(_document(mode="finetune", head="model.onnx", feature="logits")))


def test_a_head_block_still_needs_the_base_files_and_its_head() -> None:
    with pytest.raises(ManifestError, match="files must list the base's model file") as caught:
        Manifest.from_json(json.dumps(_document(mode="head")))
    assert "feature must name the base output" in caught.value.message


def test_an_unknown_mode_is_refused_naming_the_modes() -> None:
    with pytest.raises(ManifestError, match="must be one of head, finetune"):
        Manifest.from_json(json.dumps(_document(mode="lora")))


def test_a_finetuned_artifact_runs_its_own_file_without_a_chained_head(tmp_path: Path) -> None:
    folder = tmp_path / "digits-cnn-ft" / "1"
    shutil.copytree(EMBEDDED, folder)
    document = _document(mode="finetune", manifest_sha256=sha256_file(EMBEDDED / MANIFEST_FILE))
    (folder / MANIFEST_FILE).write_text(json.dumps(document))
    model = sdk.load(folder)
    try:
        spec = model.manifest.inputs[0]
        shape = [1 if not isinstance(d, int) or d < 0 else d for d in spec.shape]
        out = model.predict({spec.name: np.zeros(shape, dtype=np.float32)})
        assert model.manifest.base is not None and model.manifest.base.mode == "finetune"
        assert set(out) == {o.name for o in model.manifest.outputs}
    finally:
        model.close()
