"""The processor gate: `sdk compile` checks the declared processors against the source's own preprocessing on
held-out raw inputs, fails the build on any mismatch (a wrong tokenizer, truncation side or normalization) before
anything is exported or written, and records the result in the manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.artifacts import read_manifest
from sdk.compile import Evaluation, QualityGate, RawEvaluation, compile_source, from_recipe, load_recipe
from sdk.compile.processor_gate import check_processors
from sdk.compile.sources import CompileSource
from sdk.errors import ConfigError, ParityFailure
from sdk.runtime.processors import Processors
from tests.sdk.runtime.text_artifact import VOCAB, tokenizer_json, write_text_artifact

tokenizers = pytest.importorskip("tokenizers", reason='the text processor needs pip install "aiaas-sdk[text]"')

TEXTS = ["the cat sat", "a mat", "the cat sat on the mat a cat sat", "on the mat"]


def source_tokenize(texts: Sequence[str], max_length: int = 6) -> dict[str, np.ndarray]:
    """The 'source's own' preprocessing: the same vocabulary, cut at 6 from the right, padded to the longest."""
    tok = tokenizers.Tokenizer.from_str(tokenizer_json().decode())
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=0)
    batch = tok.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
    }


def text_source(tmp_path: Path, *, tokenizer: bytes | None = None, texts: Sequence[str] = TEXTS) -> CompileSource:
    manifest = load(write_text_artifact(tmp_path / "reference")).manifest

    def never_exported() -> bytes:
        raise AssertionError("the processor gate runs before the export")

    return CompileSource(
        name="tiny-text",
        framework="pytorch",
        task="sentence-embedding",
        description="",
        inputs=manifest.inputs,
        outputs=manifest.outputs,
        quality=QualityGate(metric="cosine", minimum=0.99, output="embedding"),
        processors=manifest.processors,
        framework_version="test",
        recipe="tests",
        weights_sha256="0" * 64,
        export=never_exported,
        run=lambda feeds: {},
        evaluation=Evaluation(source_tokenize(texts)),
        files={"tokenizer.json": (tokenizer or tokenizer_json(), "tokenizer")},
        raw_evaluation=RawEvaluation(items=list(texts), preprocess=source_tokenize, reference="the source tokenizer"),
    )


def processors_of(source: CompileSource) -> Processors:
    assert source.processors is not None
    files = {name: data for name, (data, _) in source.files.items()}
    return Processors(source.processors, model=source.name, inputs=source.inputs, labels=None, files=files)


def test_the_right_tokenizer_passes_with_truncation_exercised(tmp_path: Path) -> None:
    gate = check_processors(processors_of(text_source(tmp_path)), text_source(tmp_path).raw_evaluation)
    assert gate.passed and gate.samples == 4 and gate.mismatched == 0 and gate.truncated == 1
    parity = gate.to_manifest()
    assert (parity.metric, parity.value, parity.passed, parity.extra["truncated_items"]) == (
        "mismatched_items",
        0,
        True,
        1,
    )


def swapped_vocabulary() -> bytes:
    """A tokenizer that looks right and is not: 'cat' and 'mat' swapped."""
    import json

    document = json.loads(tokenizer_json())
    vocab = document["model"]["vocab"]
    vocab["cat"], vocab["mat"] = VOCAB["mat"], VOCAB["cat"]
    return json.dumps(document).encode()


def test_a_deliberately_wrong_tokenizer_fails_the_compile_before_export_and_writes_nothing(tmp_path: Path) -> None:
    source = text_source(tmp_path, tokenizer=swapped_vocabulary())
    with pytest.raises(ParityFailure) as caught:
        compile_source(source, tmp_path / "out")
    message = caught.value.message
    assert "tiny-text: the processors failed their gate against the source tokenizer" in message
    assert "0/4 items equal" in message and "item 0: 'input_ids' differs at [0, 2]" in message
    assert not (tmp_path / "out").exists()


def test_a_wrong_truncation_side_fails_only_on_the_long_text(tmp_path: Path) -> None:
    source = text_source(tmp_path)
    assert source.processors is not None and source.processors.text is not None
    left = dataclasses.replace(source.processors.text, truncation_side="left")
    wrong = dataclasses.replace(source, processors=dataclasses.replace(source.processors, text=left))
    gate = check_processors(processors_of(wrong), source.raw_evaluation)  # type: ignore[arg-type]
    assert not gate.passed and gate.mismatched == 1 and gate.failures[0].startswith("item 2: 'input_ids' differs")


def test_held_out_text_that_never_reaches_the_max_length_leaves_truncation_unchecked(tmp_path: Path) -> None:
    source = text_source(tmp_path, texts=["the cat", "a mat"])
    assert source.raw_evaluation is not None
    gate = check_processors(processors_of(source), source.raw_evaluation)
    assert not gate.passed and gate.mismatched == 0 and "truncation went unchecked" in gate.summary()


def test_an_input_processor_without_raw_inputs_to_check_it_on_is_refused(tmp_path: Path) -> None:
    source = dataclasses.replace(text_source(tmp_path), raw_evaluation=None)
    with pytest.raises(ConfigError, match="declares a text processor but no held-out raw inputs"):
        compile_source(source, tmp_path / "out")


# --- the digits recipe end to end (trains for 2 epochs) -------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn_source(repo: Path):
    pytest.importorskip("torch")
    pytest.importorskip("PIL")
    recipe = load_recipe("digits-cnn", root=repo)
    return from_recipe(recipe, recipe.train(seed=0, epochs=2, progress=False), seed=0)


@pytest.mark.slow
def test_the_digits_recipe_compiles_its_processors_and_the_artifact_takes_pngs(cnn_source, repo: Path, tmp_path: Path):
    result = compile_source(cnn_source, tmp_path / "digits")
    spec = read_manifest(tmp_path / "digits").processors
    assert result.manifest is not None and spec == result.manifest.processors
    assert spec is not None and spec.parity is not None and spec.parity.passed and spec.parity.samples == 360
    assert spec.parity.reference.startswith("the recipe's PNG reading")
    png = repo / "models" / "digits_cnn" / "samples" / "digit_0.png"
    assert load(tmp_path / "digits")(png).outputs["label"].shape == (1, 3)


@pytest.mark.slow
def test_a_deliberately_wrong_normalization_fails_the_compile(cnn_source, tmp_path: Path) -> None:
    spec = cnn_source.processors
    wrong = dataclasses.replace(spec, image=dataclasses.replace(spec.image, scale=1 / 256))  # not the recipe's 1/255
    source = dataclasses.replace(cnn_source, processors=wrong)
    with pytest.raises(ParityFailure, match=r"image: 0/360 items equal to the recipe's PNG reading") as caught:
        compile_source(source, tmp_path / "out")
    assert "'image' differs by" in caught.value.message and not (tmp_path / "out").exists()
    compile_source(source, tmp_path / "shipped", allow_degraded="testing the waiver")
    parity = read_manifest(tmp_path / "shipped").processors.parity  # type: ignore[union-attr]
    assert parity is not None and not parity.passed and parity.waiver == "testing the waiver"
