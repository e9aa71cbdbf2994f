"""The manifest's optional ``processors`` block: what turns raw inputs into the model's tensors, and its tensors into
answers. Run by ``sdk.runtime.processors``; written and checked (the processor gate) by ``sdk compile``::

    "processors": {
      "text":   {"tokenizer": "tokenizer.json", "max_length": 256, "truncation_side": "right",
                 "padding": "longest", "pad_id": 0,
                 "fills": {"input_ids": "ids", "attention_mask": "attention_mask"},
                 "probe_sha256": "<sha256>", "tokenizers_version": "0.23.3"},
      "image":  {"input": "image", "mode": "L", "size": [8, 8], "resample": "bilinear", "scale": 0.00392156862745098,
                 "mean": [0.0], "std": [1.0], "layout": "NCHW", "max_pixels": null, "max_bytes": 16777216},
      "series": {"input": "window", "window": 20, "mean": 0.0, "std": 1.0},
      "output": {"kind": "classes", "output": "probabilities", "activation": "none", "top_k": 3},
      "parity": {"reference": "...", "metric": "token_mismatches", "value": 0, "tolerance": 0, "passed": true, ...}
    }

At most one of ``text``, ``image``, ``series`` (the model's one raw input); ``output`` is one of ``classes``
(``activation``, ``top_k``; the labels are the manifest's ``labels``), ``embedding`` (``normalize``) or ``forecast``
(``mean``, ``std``: the answer is ``tensor * std + mean``). A text tokenizer is a file listed in the manifest's
``files``: hashed, verified and signed like the model. ``size`` is [height, width]; ``max_pixels`` null means Pillow's
``MAX_IMAGE_PIXELS``. ``probe_sha256`` (written by ``sdk compile``; absent in older manifests) is the sha256 of the
token ids the configured tokenizer gave the SDK's fixed probe texts (``sdk.runtime.processors.text.PROBE_TEXTS``)
under ``tokenizers_version``: the runtime encodes the same texts when it builds the tokenizer and refuses a
``tokenizers`` release that gives other ids than the one the model was compiled and gated with. The model input of a
series gets ``(value - mean) / std``. ``parity`` is the processor gate's
result (same fields as an artifact's). A manifest without the block is written exactly as before it existed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from sdk._record import record
from sdk.artifacts.json_reader import SHA256_PATTERN, JsonReader

if TYPE_CHECKING:
    from sdk.artifacts.manifest import Parity, TensorSpec

TEXT_FILLS = ("ids", "attention_mask", "type_ids")
TRUNCATION_SIDES = ("right", "left")
PADDINGS = ("longest", "max_length")
IMAGE_MODES = {"L": 1, "RGB": 3}  # mode -> channels
RESAMPLING = ("nearest", "bilinear", "bicubic", "lanczos", "box")
LAYOUTS = ("NCHW", "NHWC", "NHW")
OUTPUT_KINDS = ("classes", "embedding", "forecast")
ACTIVATIONS = ("none", "softmax", "sigmoid")
NORMALIZATIONS = ("l2", "none")
DEFAULT_MAX_IMAGE_BYTES = 16 * 1024 * 1024
# The output fields each kind takes (besides kind and output): a field of another kind is refused, not ignored.
OUTPUT_FIELDS = {"classes": ("activation", "top_k"), "embedding": ("normalize",), "forecast": ("mean", "std")}


@record(kw_only=True)
class TextSpec:
    """A ``tokenizers`` tokenizer file, its truncation and padding, and which model inputs it fills."""

    tokenizer: str
    max_length: int
    fills: Mapping[str, str]  # model input -> ids | attention_mask | type_ids
    truncation_side: str = "right"
    padding: str = "longest"
    pad_id: int = 0
    probe_sha256: str = ""  # the ids of the probe texts at compile ("": not recorded, nothing checked at load)
    tokenizers_version: str = ""  # the tokenizers release they were encoded with


@record(kw_only=True)
class ImageSpec:
    """PNG/JPEG bytes -> ``mode``, resized to ``size`` [height, width], ``(pixel * scale - mean) / std`` per channel."""

    input: str
    mode: str
    size: tuple[int, int]
    layout: str
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resample: str = "bilinear"
    max_pixels: int | None = None  # None: Pillow's MAX_IMAGE_PIXELS
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES


@record(kw_only=True)
class SeriesSpec:
    """A window of ``window`` numbers, oldest first, fed as ``(value - mean) / std``."""

    input: str
    window: int
    mean: float = 0.0
    std: float = 1.0


@record(kw_only=True)
class OutputSpec:
    """What one model output means: class scores, an embedding, or a (scaled) forecast."""

    kind: str
    output: str
    activation: str = "none"
    top_k: int = 1
    normalize: str = "none"
    mean: float = 0.0
    std: float = 1.0


@record(kw_only=True)
class ProcessorsSpec:
    text: TextSpec | None = None
    image: ImageSpec | None = None
    series: SeriesSpec | None = None
    output: OutputSpec | None = None
    parity: Parity | None = None

    @property
    def input(self) -> TextSpec | ImageSpec | SeriesSpec | None:
        return self.text or self.image or self.series

    @property
    def files(self) -> tuple[str, ...]:
        """The artifact files the processors read."""
        return (self.text.tokenizer,) if self.text is not None else ()


# --- validation (called by Manifest, which knows the inputs, outputs, files and labels) --------------------------


def problems(
    spec: ProcessorsSpec,
    *,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    files: Sequence[str],
    labels: Sequence[str] | None,
) -> list[str]:
    out: list[str] = []
    given = [k for k in ("text", "image", "series") if getattr(spec, k) is not None]
    if len(given) > 1:
        out.append(f"declares {' and '.join(given)}: a model takes one kind of raw input")
    if not given and spec.output is None:
        out.append("declares no processor (text, image, series or output)")
    by_name = {s.name: s for s in inputs}
    if spec.text is not None:
        out.extend(f"text.{p}" for p in _text_problems(spec.text, by_name, files))
    if spec.image is not None:
        out.extend(f"image.{p}" for p in _image_problems(spec.image, by_name))
    if spec.series is not None:
        out.extend(f"series.{p}" for p in _series_problems(spec.series, by_name))
    if spec.output is not None:
        out.extend(f"output.{p}" for p in _output_problems(spec.output, {s.name: s for s in outputs}, labels))
    if spec.parity is not None and not spec.parity.passed and not (spec.parity.waiver or "").strip():
        out.append("parity failed and records no waiver: such a processor must not ship")
    return out


def _text_problems(text: TextSpec, inputs: Mapping[str, TensorSpec], files: Sequence[str]) -> list[str]:
    out: list[str] = []
    if text.tokenizer not in files:
        out.append(f"tokenizer {text.tokenizer!r} is not one of the manifest's files (it must be hashed)")
    if text.max_length < 1:
        out.append(f"max_length {text.max_length} must be positive")
    if text.truncation_side not in TRUNCATION_SIDES:
        out.append(f"truncation_side {text.truncation_side!r} must be one of {', '.join(TRUNCATION_SIDES)}")
    if text.padding not in PADDINGS:
        out.append(f"padding {text.padding!r} must be one of {', '.join(PADDINGS)}")
    if "ids" not in text.fills.values():
        out.append("fills must name the model input that takes the token ids")
    for name, what in text.fills.items():
        if what not in TEXT_FILLS:
            out.append(f"fills[{name!r}] {what!r} must be one of {', '.join(TEXT_FILLS)}")
        spec = inputs.get(name)
        if spec is None:
            out.append(f"fills {name!r}, which is not a model input")
        elif len(spec.shape) != 2 or not spec.dtype.startswith("int"):
            out.append(f"fills {name!r}, which is not an integer [batch, sequence] input")
    unfilled = sorted(set(inputs) - set(text.fills))
    if unfilled:
        out.append(f"fills no value for the model input(s) {', '.join(unfilled)}")
    if text.probe_sha256 and not SHA256_PATTERN.match(text.probe_sha256):
        out.append("probe_sha256 must be 64 lowercase hex characters")
    if bool(text.probe_sha256) != bool(text.tokenizers_version):
        out.append("probe_sha256 and tokenizers_version go together: both set, or neither")
    return out


def _image_problems(image: ImageSpec, inputs: Mapping[str, TensorSpec]) -> list[str]:
    out: list[str] = []
    channels = IMAGE_MODES.get(image.mode)
    if channels is None:
        out.append(f"mode {image.mode!r} must be one of {', '.join(IMAGE_MODES)}")
    if len(image.size) != 2 or not all(s > 0 for s in image.size):
        out.append(f"size {list(image.size)} must be [height, width], both positive")
    if image.resample not in RESAMPLING:
        out.append(f"resample {image.resample!r} must be one of {', '.join(RESAMPLING)}")
    if image.layout not in LAYOUTS:
        out.append(f"layout {image.layout!r} must be one of {', '.join(LAYOUTS)}")
    elif image.layout == "NHW" and channels not in (None, 1):
        out.append("layout NHW has no channel axis: it takes mode L only")
    if channels is not None and (len(image.mean) not in (1, channels) or len(image.std) not in (1, channels)):
        out.append(f"mean and std need 1 or {channels} value(s) for mode {image.mode}")
    if not all(math.isfinite(v) for v in (image.scale, *image.mean, *image.std)) or not all(image.std):
        out.append("scale, mean and std must be finite numbers, std non-zero")
    if image.max_pixels is not None and image.max_pixels < 1:
        out.append("max_pixels must be positive (or null for Pillow's MAX_IMAGE_PIXELS)")
    if image.max_bytes < 1:
        out.append("max_bytes must be positive")
    spec = inputs.get(image.input)
    if spec is None:
        out.append(f"input {image.input!r} is not a model input")
    elif channels is not None and image.layout in LAYOUTS and len(image.size) == 2:
        height, width = image.size
        expected = {"NCHW": (channels, height, width), "NHWC": (height, width, channels), "NHW": (height, width)}
        if tuple(spec.shape[1:]) != expected[image.layout] or not spec.dtype.startswith("float"):
            out.append(
                f"makes [batch, {', '.join(map(str, expected[image.layout]))}] float for {image.input!r}, "
                f"which takes {list(spec.shape)} {spec.dtype}"
            )
    return out


def _series_problems(series: SeriesSpec, inputs: Mapping[str, TensorSpec]) -> list[str]:
    out: list[str] = []
    if series.window < 1:
        out.append(f"window {series.window} must be positive")
    if not (math.isfinite(series.mean) and math.isfinite(series.std)) or series.std == 0:
        out.append("mean and std must be finite numbers, std non-zero")
    spec = inputs.get(series.input)
    if spec is None:
        out.append(f"input {series.input!r} is not a model input")
    elif tuple(spec.shape[1:]) not in ((series.window,), (series.window, 1)) or not spec.dtype.startswith("float"):
        out.append(
            f"makes [batch, {series.window}(, 1)] float for {series.input!r}, which takes {list(spec.shape)} "
            f"{spec.dtype}"
        )
    return out


def _output_problems(output: OutputSpec, outputs: Mapping[str, TensorSpec], labels: Sequence[str] | None) -> list[str]:
    out: list[str] = []
    if output.kind not in OUTPUT_KINDS:
        return [f"kind {output.kind!r} must be one of {', '.join(OUTPUT_KINDS)}"]
    spec = outputs.get(output.output)
    if spec is None:
        out.append(f"output {output.output!r} is not a model output")
    if output.kind == "classes":
        if output.activation not in ACTIVATIONS:
            out.append(f"activation {output.activation!r} must be one of {', '.join(ACTIVATIONS)}")
        if labels is None:
            out.append("classes needs the manifest's labels")
        elif spec is not None and (len(spec.shape) != 2 or spec.shape[1] != len(labels)):
            out.append(f"{output.output!r} has shape {list(spec.shape)}, not [batch, {len(labels)} labels]")
        if output.top_k < 1 or (labels is not None and output.top_k > len(labels)):
            out.append(f"top_k {output.top_k} must be between 1 and the number of labels")
    if output.kind == "embedding" and output.normalize not in NORMALIZATIONS:
        out.append(f"normalize {output.normalize!r} must be one of {', '.join(NORMALIZATIONS)}")
    if output.kind == "forecast" and (not (math.isfinite(output.mean) and math.isfinite(output.std)) or not output.std):
        out.append("mean and std must be finite numbers, std non-zero")
    return out


# --- (de)serialisation ------------------------------------------------------------------------------------------

ParityReader = Callable[[JsonReader, Any, str], "Parity | None"]


def _keys(cls: Any) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


def to_dict(spec: ProcessorsSpec, parity: Callable[[Parity], Any]) -> dict[str, Any]:
    """The block as manifest.json holds it (absent processors are left out; ``parity`` writes a Parity)."""
    out: dict[str, Any] = {}
    if spec.text is not None:
        text = {**spec.text.__dict__, "fills": dict(spec.text.fills)}
        if not spec.text.probe_sha256:  # a manifest without the probe is written exactly as before it existed
            text = {k: v for k, v in text.items() if k not in ("probe_sha256", "tokenizers_version")}
        out["text"] = text
    if spec.image is not None:
        image = spec.image
        out["image"] = {**image.__dict__, "size": list(image.size), "mean": list(image.mean), "std": list(image.std)}
    if spec.series is not None:
        out["series"] = dict(spec.series.__dict__)
    if spec.output is not None:
        o = spec.output
        kept = {k: getattr(o, k) for k in OUTPUT_FIELDS.get(o.kind, ())}
        out["output"] = {"kind": o.kind, "output": o.output, **kept}
    if spec.parity is not None:
        out["parity"] = parity(spec.parity)
    return out


def from_dict(r: JsonReader, data: Any, read_parity: ParityReader) -> ProcessorsSpec:
    where = "processors"
    d = r.only(r.obj(data, where), _keys(ProcessorsSpec), where)
    return ProcessorsSpec(
        text=_text(r, d["text"]) if d.get("text") is not None else None,
        image=_image(r, d["image"]) if d.get("image") is not None else None,
        series=_series(r, d["series"]) if d.get("series") is not None else None,
        output=_output(r, d["output"]) if d.get("output") is not None else None,
        parity=read_parity(r, d.get("parity"), f"{where}.parity"),
    )


def _text(r: JsonReader, data: Any) -> TextSpec:
    where = "processors.text"
    d = r.only(r.obj(data, where), _keys(TextSpec), where)
    fills = r.obj(r.get(d, "fills", dict, where), f"{where}.fills")
    if not all(isinstance(v, str) for v in fills.values()):
        raise r.fail(f"{where}.fills", "values must be strings")
    return TextSpec(
        tokenizer=r.get(d, "tokenizer", str, where),
        max_length=r.get(d, "max_length", int, where),
        fills=dict(fills),
        truncation_side=r.get(d, "truncation_side", str, where, default="right"),
        padding=r.get(d, "padding", str, where, default="longest"),
        pad_id=r.get(d, "pad_id", int, where, default=0),
        probe_sha256=r.get(d, "probe_sha256", str, where, default=""),
        tokenizers_version=r.get(d, "tokenizers_version", str, where, default=""),
    )


def _floats(r: JsonReader, d: Mapping[str, Any], key: str, where: str, default: tuple[float, ...]) -> tuple[float, ...]:
    values = r.get(d, key, list, where, default=list(default))
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise r.fail(f"{where}.{key}", f"must be a non-empty list of numbers, got {values!r}")
    return tuple(float(v) for v in values)


def _image(r: JsonReader, data: Any) -> ImageSpec:
    where = "processors.image"
    d = r.only(r.obj(data, where), _keys(ImageSpec), where)
    size = r.int_list(d, "size", where)
    assert size is not None
    return ImageSpec(
        input=r.get(d, "input", str, where),
        mode=r.get(d, "mode", str, where),
        size=(size[0], size[1]) if len(size) == 2 else size,  # type: ignore[arg-type]  # checked by problems()
        layout=r.get(d, "layout", str, where),
        scale=float(r.get(d, "scale", (int, float), where, default=1.0 / 255.0)),
        mean=_floats(r, d, "mean", where, (0.0,)),
        std=_floats(r, d, "std", where, (1.0,)),
        resample=r.get(d, "resample", str, where, default="bilinear"),
        max_pixels=r.get(d, "max_pixels", int, where, default=None),
        max_bytes=r.get(d, "max_bytes", int, where, default=DEFAULT_MAX_IMAGE_BYTES),
    )


def _series(r: JsonReader, data: Any) -> SeriesSpec:
    where = "processors.series"
    d = r.only(r.obj(data, where), _keys(SeriesSpec), where)
    return SeriesSpec(
        input=r.get(d, "input", str, where),
        window=r.get(d, "window", int, where),
        mean=float(r.get(d, "mean", (int, float), where, default=0.0)),
        std=float(r.get(d, "std", (int, float), where, default=1.0)),
    )


def _output(r: JsonReader, data: Any) -> OutputSpec:
    where = "processors.output"
    d = r.obj(data, where)
    kind = r.get(d, "kind", str, where)
    if kind not in OUTPUT_KINDS:
        raise r.fail(f"{where}.kind", f"{kind!r} must be one of {', '.join(OUTPUT_KINDS)}")
    r.only(d, {"kind", "output", *OUTPUT_FIELDS[kind]}, where)
    return OutputSpec(
        kind=kind,
        output=r.get(d, "output", str, where),
        activation=r.get(d, "activation", str, where, default="none"),
        top_k=r.get(d, "top_k", int, where, default=1),
        normalize=r.get(d, "normalize", str, where, default="none"),
        mean=float(r.get(d, "mean", (int, float), where, default=0.0)),
        std=float(r.get(d, "std", (int, float), where, default=1.0)),
    )
