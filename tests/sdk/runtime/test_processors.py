"""Raw inputs in, answers out, on the device: the artifact's processors as `sdk.load` runs them.

Text through a tiny word-level tokenizer (tests/sdk/runtime/text_artifact.py), images through the shipped digits
model (it declares PNG in, top-3 digits out), series and outputs on their own. Every bad input is an InvalidInput
naming the item and what was expected; a decompression bomb is refused from its header, before any pixel is decoded.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sdk import load
from sdk.artifacts.manifest import TensorSpec
from sdk.artifacts.processors_schema import OutputSpec, SeriesSpec
from sdk.errors import IntegrityError, InvalidInput, MissingDependency
from sdk.runtime.processors.outputs import OutputDecoder
from sdk.runtime.processors.series import SeriesEncoder
from tests.sdk.runtime.text_artifact import CLS, SEP, UNK, VOCAB, write_text_artifact

pytest.importorskip("tokenizers", reason='text processors need pip install "aiaas-sdk[text]"')
Image = pytest.importorskip("PIL.Image", reason='image processors need pip install "aiaas-sdk[images]"')

SAMPLES = Path(__file__).resolve().parents[3] / "models" / "digits_cnn" / "samples"


@pytest.fixture
def text_model(tmp_path: Path):
    return load(write_text_artifact(tmp_path / "tiny-text"))


def png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, format=fmt)
    return buffer.getvalue()


# --- text ---------------------------------------------------------------------------------------------------------


def test_text_is_tokenized_padded_to_the_longest_and_run(text_model) -> None:
    result = text_model(["the cat sat", "a mat"])
    ids = [[CLS, VOCAB["the"], VOCAB["cat"], VOCAB["sat"], SEP], [CLS, VOCAB["a"], VOCAB["mat"], SEP]]
    assert result["embedding"].tolist() == [[sum(ids[0]), 5.0], [sum(ids[1]), 4.0]]
    assert result.inputs["length"].tolist() == [5, 4] and result.truncated == [False, False]
    assert result.tensors["embedding"].dtype == np.float32 and result.notes == ()


def test_one_string_and_utf8_bytes_are_text_too(text_model) -> None:
    assert len(text_model("the cat")) == 1
    assert text_model([b"the cat", "The CAT"])["embedding"].tolist() == [[12.0, 4.0], [12.0, 4.0]]


def test_truncation_is_explicit_and_reported_per_item(text_model) -> None:
    result = text_model(["the cat sat on the mat a cat", "the cat"])
    assert result.truncated == [True, False]
    assert result.inputs["tokens"].tolist() == [10, 4] and result.inputs["length"].tolist() == [6, 4]
    assert result.notes == ("text 0: 10 tokens, truncated to 6 (the right end was cut)",)
    kept = [CLS, VOCAB["the"], VOCAB["cat"], VOCAB["sat"], VOCAB["on"], SEP]
    assert result["embedding"][0].tolist() == [sum(kept), 6.0]


class _PiecesWithoutSpecials:
    """An encoding as tokenizers 0.23.2 cuts one (seen on the lent machine): its overflowing pieces hold no special
    tokens, where 0.23.3's repeat them. Only ``overflowing`` differs from the real encoding it wraps."""

    def __init__(self, encoding) -> None:
        self._encoding = encoding

    def __getattr__(self, name: str):
        return getattr(self._encoding, name)

    @property
    def overflowing(self) -> list:
        return [SimpleNamespace(ids=[i for i in o.ids if i not in (CLS, SEP)]) for o in self._encoding.overflowing]


def test_the_token_count_of_a_truncated_text_holds_whatever_the_overflowing_pieces_hold(text_model) -> None:
    encoder = text_model.processors.input
    tokenizer = encoder.prepare()
    older = SimpleNamespace(
        encode_batch=lambda texts: [_PiecesWithoutSpecials(e) for e in tokenizer.encode_batch(texts)]
    )
    encoder._tokenizer = older  # as if tokenizers 0.23.2 had built it
    result = text_model(["the cat sat on the mat a cat", "the cat"])
    assert result.inputs["tokens"].tolist() == [10, 4] and result.truncated == [True, False]
    assert result.notes == ("text 0: 10 tokens, truncated to 6 (the right end was cut)",)


def test_the_declared_truncation_side_is_the_one_cut(tmp_path: Path) -> None:
    model = load(write_text_artifact(tmp_path / "left", truncation_side="left"))
    result = model(["the cat sat on the mat a"])
    kept = [CLS, VOCAB["on"], VOCAB["the"], VOCAB["mat"], VOCAB["a"], SEP]
    assert result["embedding"][0].tolist() == [sum(kept), 6.0]
    assert "the left end was cut" in result.notes[0]


def test_an_l2_embedding_comes_out_unit_length(tmp_path: Path) -> None:
    model = load(write_text_artifact(tmp_path / "l2", normalize="l2"))
    result = model(["the cat", "zebra"])
    assert np.allclose(np.linalg.norm(result["embedding"], axis=1), 1.0)
    assert result.tensors["embedding"][1].tolist() == [CLS + UNK + SEP, 3.0]  # the model's own, unnormalized


def test_tensors_still_work_exactly_as_before(text_model) -> None:
    feeds = {"input_ids": np.array([[1, 4, 2]]), "attention_mask": np.array([[1, 1, 0]])}
    out = text_model(feeds)
    assert isinstance(out, dict) and out["embedding"].tolist() == [[5.0, 2.0]]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["the cat", ""], "text 1 is empty"),
        (["   "], "text 0 is empty (or only whitespace)"),
        ([b"the \xff cat"], "text 0 is not valid UTF-8 (invalid start byte at byte 4)"),
        (["the cat", 3], "item 1 is int, not a string"),
        ([], None),  # an empty list is no raw input: tensors' own validation answers
    ],
)
def test_bad_text_names_the_item_and_what_was_expected(text_model, raw, message) -> None:
    with pytest.raises(InvalidInput) as caught:
        text_model.process(raw)
    if message:
        assert message in caught.value.message and "tiny-text@1" in caught.value.message


def test_a_tampered_tokenizer_is_refused_at_load(tmp_path: Path) -> None:
    folder = write_text_artifact(tmp_path / "tampered")
    document = json.loads((folder / "tokenizer.json").read_text())
    document["model"]["vocab"]["cat"], document["model"]["vocab"]["mat"] = VOCAB["mat"], VOCAB["cat"]
    (folder / "tokenizer.json").write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match="tokenizer.json") as caught:
        load(folder)
    assert caught.value.file == "tokenizer.json"


def test_without_tokenizers_text_names_the_text_extra_and_tensors_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_text_artifact(tmp_path / "no-tokenizers")
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    model = load(folder)  # loading needs no tokenizer
    assert model({"input_ids": np.array([[1, 2]]), "attention_mask": np.array([[1, 1]])})["embedding"].shape == (1, 2)
    with pytest.raises(MissingDependency) as caught:
        model(["the cat"])
    assert caught.value.hint == 'pip install "aiaas-sdk[text]"' and caught.value.module == "tokenizers"


def test_a_model_without_processors_says_it_takes_tensors(text_model, digits_artifact: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "plain"
    shutil.copytree(digits_artifact, folder)
    document = json.loads((folder / "manifest.json").read_text())
    del document["processors"]
    (folder / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(InvalidInput, match="takes tensors only"):
        load(folder).process([b"\x89PNG"])


# --- images (the shipped digits model) -----------------------------------------------------------------------------


def test_a_digit_png_comes_back_as_its_label_and_score() -> None:
    result = load("digits-cnn")(SAMPLES / "digit_7.png")
    assert result.labels == ["7"] and result.outputs["label"].shape == (1, 3)
    assert result["score"][0, 0] > 0.9 and result.describe(0).startswith("7 (")
    assert np.all(np.diff(result["score"][0]) <= 0)  # best first


def test_png_and_jpeg_bytes_paths_and_other_sizes_and_colours_decode(digit_7: np.ndarray) -> None:
    model = load("digits-cnn")
    grey = np.rint(digit_7.reshape(8, 8) * 255).astype(np.uint8)
    big = np.kron(grey, np.ones((4, 4), dtype=np.uint8))  # 32x32: resized to 8x8
    items = [png(grey), png(grey, "RGB"), png(grey, "RGBA"), png(big), png(big, fmt="JPEG"), SAMPLES / "digit_3.png"]
    assert model(items).labels == ["7", "7", "7", "7", "7", "3"]


def test_the_png_tensor_is_what_the_model_was_trained_on_within_8_bit_rounding(digit_7: np.ndarray) -> None:
    model = load("digits-cnn")
    encoded = model.processors.encode([SAMPLES / "digit_7.png"])
    assert encoded.feeds["image"].shape == (1, 1, 8, 8) and encoded.feeds["image"].dtype == np.float32
    assert np.abs(encoded.feeds["image"] - digit_7).max() <= 1 / 510 + 1e-7


NOISE = np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height and whose body is one empty chunk: what a bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"not an image at all", "image 0 is not a PNG or JPEG image"),
        (lambda: png(NOISE)[: len(png(NOISE)) // 2], "image 0 does not decode"),
        (lambda: _png_header_only(100_000, 100_000), "more pixels than Pillow's MAX_IMAGE_PIXELS (89478485)"),
        (lambda: _png_header_only(10_000, 9_000), "more pixels than Pillow's MAX_IMAGE_PIXELS (89478485)"),
        (lambda: png(np.zeros((8, 8), np.uint16) + 300), "has mode I;16; this model takes 8-bit images"),
        (lambda: b"\x89PNG" + b"\0" * (16 * 1024 * 1024), "over the limit of 16777216 bytes (max_bytes)"),
    ],
    ids=["garbage", "truncated", "bomb", "just-over-the-limit", "16-bit", "too-many-bytes"],
)
def test_a_bad_image_is_refused_naming_it_and_the_limit(make, message) -> None:
    model = load("digits-cnn")
    with pytest.raises(InvalidInput) as caught:
        model([SAMPLES / "digit_7.png", make()])
    assert message in caught.value.message.replace("image 1", "image 0")
    assert caught.value.status == 400


def test_the_manifests_own_pixel_limit_is_named(digits_artifact: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "small-limit"
    shutil.copytree(digits_artifact, folder)
    document = json.loads((folder / "manifest.json").read_text())
    document["processors"]["image"]["max_pixels"] = 1000
    (folder / "manifest.json").write_text(json.dumps(document))
    model = load(folder)
    assert model(png(np.zeros((30, 30), np.uint8))).labels is not None
    with pytest.raises(InvalidInput, match=r"image 0 is 64x64 = 4096 pixels, over the limit of 1000 \(max_pixels\)"):
        model(png(NOISE))


def test_an_oversized_header_is_refused_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal comes from the header: no pixel of the body is ever decoded."""
    from PIL import ImageFile

    decoded: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self):  # type: ignore[no-untyped-def]
        decoded.append(self.format)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    with pytest.raises(InvalidInput, match="refused before decoding"):
        load("digits-cnn")(_png_header_only(10_000, 9_000))
    assert decoded == []


def test_a_mixed_list_of_images_names_the_odd_item() -> None:
    with pytest.raises(InvalidInput, match="item 1 is str; a list of images holds PNG or JPEG bytes"):
        load("digits-cnn")([SAMPLES / "digit_7.png", "digit_3.png"])


def test_without_pillow_images_name_the_images_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependency) as caught:
        load("digits-cnn")(SAMPLES / "digit_7.png")
    assert caught.value.hint == 'pip install "aiaas-sdk[images]"'


# --- series and outputs --------------------------------------------------------------------------------------------

WINDOW = TensorSpec(name="window", dtype="float32", shape=(-1, 4, 1), dim_names=("batch", None, None))


def test_a_series_window_is_scaled_and_shaped_as_the_model_takes_it() -> None:
    encoder = SeriesEncoder(SeriesSpec(input="window", window=4, mean=10.0, std=2.0), WINDOW, model="m")
    assert encoder.takes([1, 2, 3, 4]) and encoder.takes([[1, 2, 3, 4]]) and not encoder.takes(np.zeros((1, 4, 1)))
    feeds = encoder.encode([[10, 12, 14, 8], [10, 10, 10, 10]]).feeds["window"]
    assert feeds.shape == (2, 4, 1) and feeds.dtype == np.float32
    assert feeds[:, :, 0].tolist() == [[0.0, 1.0, 2.0, -1.0], [0.0, 0.0, 0.0, 0.0]]
    assert encoder.encode([10, 12, 14, 8]).feeds["window"].shape == (1, 4, 1)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([1, 2, 3], "each window must hold exactly 4 values (oldest first), got 3"),
        ([[1, 2, 3, 4], [1, 2, float("nan"), 4]], "window 1 holds NaN or infinity at position 2"),
        ([1, "two", 3, 4], "takes a series of numbers"),
        ([[1, 2, 3, 4], [1, 2]], "takes a series of numbers"),
    ],
)
def test_a_bad_series_names_the_window_and_what_was_expected(raw, message) -> None:
    encoder = SeriesEncoder(SeriesSpec(input="window", window=4), WINDOW, model="m")
    with pytest.raises(InvalidInput, match="input 'window' of m") as caught:
        encoder.encode(raw)
    assert message in caught.value.message


def test_outputs_become_top_k_labels_unit_embeddings_and_unscaled_forecasts() -> None:
    logits = np.array([[0.0, 2.0, 1.0]], dtype=np.float32)
    classes = OutputDecoder(OutputSpec(kind="classes", output="y", activation="softmax", top_k=2), ["a", "b", "c"])
    out = classes.decode({"y": logits})
    assert out["label"].tolist() == [["b", "c"]]
    expected = np.exp([2.0, 1.0]) / np.exp([0.0, 2.0, 1.0]).sum()
    assert np.allclose(out["score"], [expected]) and out["score"].dtype == np.float32
    assert classes.decode({"y": logits}, top_k=3)["label"].shape == (1, 3)
    embedding = OutputDecoder(OutputSpec(kind="embedding", output="e", normalize="l2"), None)
    assert np.allclose(embedding.decode({"e": np.array([[3.0, 4.0]], np.float32)})["e"], [[0.6, 0.8]])
    forecast = OutputDecoder(OutputSpec(kind="forecast", output="f", mean=100.0, std=50.0), None)
    assert forecast.decode({"f": np.array([[0.5]], np.float32)})["f"].tolist() == [[125.0]]
