"""`sdk adapt --merged FILE`: the adapted model as one ONNX graph for runtimes outside aiaas, valid ONNX that answers
what the two-graph artifact answers, written only beside (never inside) the artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import sdk
from sdk.adaptation import AdaptResult, adapt
from sdk.adaptation.merged import export_merged
from sdk.errors import InvalidInput
from tests.sdk.runtime.text_artifact import write_text_artifact


def test_merged_digits_graph_answers_as_the_artifact(odd_even: AdaptResult, digits_split, tmp_path: Path) -> None:
    images = digits_split.x_test[:16]
    target = export_merged(odd_even.path, tmp_path / "merged.onnx", {"image": images})
    model = onnx.load(str(target))
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["probabilities"] and [i.name for i in model.graph.input] == [
        "image"
    ]
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": digits_split.x_test[16:48]})
    expected = sdk.load(odd_even.path)({"image": digits_split.x_test[16:48]})["probabilities"]
    assert np.abs(got - expected).max() < 1e-5
    assert target.stat().st_size > (odd_even.path / "model.onnx").stat().st_size  # a copy of the base: no delta


def test_adapt_writes_a_merged_text_graph_checked_on_the_examples(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers")
    base = write_text_artifact(tmp_path / "tiny-text")
    rows = [("the cat", "short"), ("a mat", "short"), ("cat sat", "short")]
    rows += [("the cat sat on the mat", "long"), ("a cat sat on a mat", "long"), ("the mat sat on a cat", "long")]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    adapt(base, tmp_path / "d.jsonl", tmp_path / "out", folds=3, merged=tmp_path / "one.onnx")
    session = ort.InferenceSession(str(tmp_path / "one.onnx"), providers=["CPUExecutionProvider"])
    assert {i.name for i in session.get_inputs()} == {"input_ids", "attention_mask"}
    model = sdk.load(tmp_path / "out")
    feeds = model.processors.encode(["a cat", "the cat sat on the mat"]).feeds  # type: ignore[union-attr]
    (got,) = session.run(None, feeds)
    assert np.allclose(got, model(feeds)["probabilities"], atol=1e-6)


def test_a_merged_file_inside_the_artifact_folder_is_refused(odd_even_copy: Path, digit_7) -> None:
    with pytest.raises(InvalidInput, match="is inside the artifact folder"):
        export_merged(odd_even_copy, odd_even_copy / "merged.onnx", {"image": digit_7})
    assert not (odd_even_copy / "merged.onnx").exists()
