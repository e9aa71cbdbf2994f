"""Digits as PNG files, and the image processor every digits recipe declares.

A digit PNG is 8x8 8-bit grey, 0 = background, 255 = full ink: ``round(load_digits value * 255 / 16)``. The model
takes ``pixel / 255``, which is load_digits / 16 within the 8-bit rounding (at most 1/510). ``read_png`` is this
recipe's own reading of such a file (Pillow, then numpy), written apart from sdk's processor: the processor gate
checks the manifest's declared processor against it on the 360 held-out digits.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from models.digits_cnn.data import load_split
from sdk.artifacts.processors_schema import ImageSpec, OutputSpec, ProcessorsSpec
from sdk.compile import RawEvaluation

SIZE = 8


def png_bytes(image: np.ndarray) -> bytes:
    """One image in [0, 1] (any shape holding 8x8 values) as an 8-bit grey PNG."""
    from PIL import Image

    pixels = np.rint(np.asarray(image, dtype=np.float64).reshape(SIZE, SIZE) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def read_png(data: bytes) -> np.ndarray:
    """The recipe's own preprocessing of a digit PNG: grey, pixel / 255, float32 [8, 8]."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / np.float32(255.0)


def processors(input_name: str, layout: str) -> ProcessorsSpec:
    """PNG/JPEG in, ``layout`` out (NCHW for the CNN, NHWC for Keras, NHW for the row Transformer); the top 3
    digits with their probabilities out."""
    return ProcessorsSpec(
        image=ImageSpec(input=input_name, mode="L", size=(SIZE, SIZE), layout=layout, scale=1.0 / 255.0),
        output=OutputSpec(kind="classes", output="probabilities", activation="none", top_k=3),
    )


def raw_evaluation(seed: int, input_name: str, layout: str) -> RawEvaluation:
    """The held-out test digits as PNG files, and ``read_png`` laid out as the model takes them."""
    split = load_split(seed)

    def preprocess(items: Sequence[bytes]) -> dict[str, np.ndarray]:
        images = np.stack([read_png(item) for item in items])
        shaped = {"NCHW": images[:, None], "NHWC": images[..., None], "NHW": images}[layout]
        return {input_name: np.ascontiguousarray(shaped)}

    return RawEvaluation(
        items=[png_bytes(x) for x in split.x_test],
        preprocess=preprocess,
        reference="the recipe's PNG reading (Pillow grey, pixel / 255)",
    )
