"""Images (PNG or JPEG bytes, or a file path) -> the model's float tensor, with Pillow (the ``images`` extra).

Refused before any pixel is decoded: more bytes than ``max_bytes``, and more pixels than ``max_pixels`` (default:
Pillow's ``MAX_IMAGE_PIXELS``), read from the header (a decompression bomb is a small file with a huge header size).
Then: EXIF orientation applied, converted to the declared mode, resized to [height, width], ``pixel * scale``, minus
``mean``, over ``std`` per channel, laid out as the model takes it.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np

from sdk.artifacts.processors_schema import IMAGE_MODES, ImageSpec
from sdk.errors import InvalidInput
from sdk.extras import require
from sdk.runtime.processors.result import Encoded

KIND = "image"
FORMATS = ("PNG", "JPEG")
HINT = "send PNG or JPEG files (or their bytes), 8-bit grey or colour"
# Source modes an 8-bit model image is made from; 16-bit and float images (I, I;16, F) are refused, not clipped.
SOURCE_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")


def is_image(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview, os.PathLike))


class ImageEncoder:
    kind = KIND

    def __init__(self, spec: ImageSpec, *, model: str) -> None:
        self.spec = spec
        self.model = model
        channels = IMAGE_MODES[spec.mode]
        self._mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 1, -1)
        self._std = np.asarray(spec.std, dtype=np.float32).reshape(1, 1, -1)
        self._channels = channels

    def takes(self, raw: Any) -> bool:
        if is_image(raw):
            return True
        if isinstance(raw, np.ndarray):
            return raw.dtype.kind in "OS"
        return isinstance(raw, (list, tuple)) and any(is_image(item) for item in raw)

    def prepare(self) -> Any:
        return require("PIL.Image", purpose=f"image input to {self.model} (decoding PNG/JPEG)")

    def _items(self, raw: Any) -> list[Any]:
        if is_image(raw):
            return [raw]
        items = raw.reshape(-1).tolist() if isinstance(raw, np.ndarray) else list(raw)
        if not items:
            raise InvalidInput(f"input of {self.model} got an empty list; send at least one image")
        for i, item in enumerate(items):
            if not is_image(item):
                raise InvalidInput(
                    f"input of {self.model}: item {i} is {type(item).__name__}; a list of images holds PNG or JPEG "
                    "bytes (or file paths) only"
                )
        return items

    def _bytes(self, item: Any, name: str) -> bytes:
        limit = self.spec.max_bytes
        if isinstance(item, os.PathLike):
            path = os.fspath(item)
            try:
                size = os.stat(path).st_size
                if size > limit:
                    raise InvalidInput(f"{name} is {size} bytes, over the limit of {limit} bytes (max_bytes)")
                with open(path, "rb") as handle:
                    return handle.read(limit + 1)
            except OSError as exc:
                raise InvalidInput(f"{name} cannot be read: {exc.strerror or exc}") from exc
        data = bytes(item)
        if len(data) > limit:
            raise InvalidInput(f"{name} is {len(data)} bytes, over the limit of {limit} bytes (max_bytes)")
        return data

    def _open(self, image_module: Any, data: bytes, name: str) -> Any:
        """The image with its header read and nothing decoded; refused here if too large or not PNG/JPEG."""
        limit = self.spec.max_pixels or image_module.MAX_IMAGE_PIXELS
        bomb = (image_module.DecompressionBombError, image_module.DecompressionBombWarning)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", image_module.DecompressionBombWarning)
                opened = image_module.open(io.BytesIO(data), formats=list(FORMATS))
        except bomb as exc:
            raise InvalidInput(
                f"{name} is refused before decoding: its header claims more pixels than Pillow's "
                f"MAX_IMAGE_PIXELS ({image_module.MAX_IMAGE_PIXELS}) allows (a decompression bomb?)",
                hint=HINT,
            ) from exc
        except image_module.UnidentifiedImageError as exc:
            raise InvalidInput(f"{name} is not a {' or '.join(FORMATS)} image", hint=HINT) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidInput(f"{name} does not decode as {' or '.join(FORMATS)}: {exc}", hint=HINT) from exc
        width, height = opened.size
        if width * height > limit:
            source = "max_pixels" if self.spec.max_pixels else "Pillow's MAX_IMAGE_PIXELS"
            raise InvalidInput(
                f"{name} is {width}x{height} = {width * height} pixels, over the limit of {limit} ({source}); "
                "refused before decoding",
                hint=HINT,
            )
        if opened.mode not in SOURCE_MODES:
            raise InvalidInput(
                f"{name} has mode {opened.mode}; this model takes 8-bit images ({', '.join(SOURCE_MODES)}), "
                f"converted to {self.spec.mode}",
                hint=HINT,
            )
        return opened

    def _pixels(self, image_module: Any, data: bytes, name: str) -> np.ndarray:
        from PIL import ImageOps

        opened = self._open(image_module, data, name)
        try:
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
        except (OSError, ValueError, SyntaxError) as exc:  # a truncated or corrupt body behind a valid header
            raise InvalidInput(f"{name} does not decode: {exc}", hint=HINT) from exc
        image = image.convert(self.spec.mode)
        height, width = self.spec.size
        if image.size != (width, height):
            resample = getattr(image_module.Resampling, self.spec.resample.upper())
            image = image.resize((width, height), resample)
        array = np.asarray(image, dtype=np.float32)
        return array.reshape(height, width, self._channels)

    def encode(self, raw: Any) -> Encoded:
        image_module = self.prepare()
        items = self._items(raw)
        names = [
            f"image {i}" + (f" ({os.fspath(item)})" if isinstance(item, os.PathLike) else "")
            for i, item in enumerate(items)
        ]
        batch = np.stack([self._pixels(image_module, self._bytes(item, n), n) for item, n in zip(items, names)])
        batch = (batch * np.float32(self.spec.scale) - self._mean) / self._std
        if self.spec.layout == "NCHW":
            batch = batch.transpose(0, 3, 1, 2)
        elif self.spec.layout == "NHW":
            batch = batch[..., 0]
        return Encoded(feeds={self.spec.input: np.ascontiguousarray(batch, dtype=np.float32)}, count=len(items))
