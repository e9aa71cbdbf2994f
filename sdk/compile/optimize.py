"""Graph optimization and reduced precision with ONNX Runtime's own tools: transformer fusion, fp16, int8.

All functions take and return serialized ONNX bytes (the compile pipeline hashes bytes, not files).
Measured on this project's CPU (FACTS.md): ORT's BERT fusion gives the fastest Transformer graph; dynamic int8 must be
per-channel to keep MiniLM's cosine >= 0.99; dynamic int8 made the digits CNN 2.5-4.6x slower, so convolutions are
never quantized dynamically (``int8_refusal``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.compile.external import (
    ExternalDataConfig,
    LargeModel,
    OnnxModel,
    shard_model_proto,
    shard_onnx_file,
    verify_shards,
    work_folder,
)
from sdk.compile.extras import require
from sdk.compile.recipe import TransformerFusion
from sdk.errors import ConfigError
from sdk.extras import OPENVINO

CONV_OPS = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"})


def import_onnx() -> Any:
    return require("onnx", purpose="optimizing ONNX models")


@contextlib.contextmanager
def _quiet_ort_tools() -> Iterator[None]:
    """ORT's quantizer and optimizer log advice at WARNING on the root logger; keep it out of the CLI's output."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def op_types(model: OnnxModel) -> set[str]:
    onnx = import_onnx()
    graph = model.graph if isinstance(model, LargeModel) else model
    return {node.op_type for node in onnx.load_from_string(graph).graph.node}


def fuse_transformer(model: bytes, fusion: TransformerFusion) -> tuple[bytes, dict[str, int]]:
    """ORT's transformer optimizer: fuse attention, embedding LayerNorm, skip LayerNorm and GELU.

    Returns the fused graph and the count of each fused operator (so the caller can tell if fusion did not happen).
    """
    onnx = import_onnx()
    optimize_model = require("onnxruntime.transformers.optimizer", purpose="fusing Transformer graphs").optimize_model

    with tempfile.TemporaryDirectory() as tmp, _quiet_ort_tools():
        path = Path(tmp) / "model.onnx"
        path.write_bytes(model)
        optimized = optimize_model(
            str(path),
            model_type=fusion.model_type,
            num_heads=fusion.num_heads,
            hidden_size=fusion.hidden_size,
        )
        stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
        buffer = io.BytesIO()
        onnx.save_model(optimized.model, buffer)
    return buffer.getvalue(), stats


def to_fp16(model: OnnxModel, *, external_data: ExternalDataConfig | None = None) -> OnnxModel:
    """Weights and compute in fp16, inputs and outputs kept fp32 (the manifest's signature does not change).

    A ``LargeModel`` is converted from its verified shards and written straight back to shards; the result is bytes
    when it fits under ``external_data.threshold`` (fp16 halves the weights), else a ``LargeModel`` again."""
    if isinstance(model, LargeModel):
        return _fp16_large(model, external_data or ExternalDataConfig.from_env())
    onnx = import_onnx()
    with _quiet_ort_tools():
        converted = _fp16_converter()(onnx.load_from_string(model), keep_io_types=True)
    return bytes(converted.SerializeToString())


def _fp16_converter() -> Any:
    return require("onnxruntime.transformers.float16", purpose="converting models to fp16").convert_float_to_float16


def _fp16_large(model: LargeModel, config: ExternalDataConfig) -> OnnxModel:
    """Peak memory under 2x the fp32 weights (measured 1.5x at 300 MB, 1.7x at 96 MB): the fp32 tensors loaded into
    one proto, converted in place (each fp16 copy beside its fp32 original until the proto goes), then written tensor
    by tensor into shards.

    Shapes are inferred on the graph alone (the converter's own inference serializes the whole model, which fails
    past 2 GB and would copy the weights); then the weights are attached from the shards, verified first."""
    onnx = import_onnx()
    from onnx.external_data_helper import load_external_data_for_model

    verify_shards(model)
    proto = onnx.shape_inference.infer_shapes(onnx.load_from_string(model.graph))
    load_external_data_for_model(proto, str(model.folder))
    with _quiet_ort_tools():
        proto = _fp16_converter()(proto, keep_io_types=True, disable_shape_infer=True)
    # Sized from the dims: protobuf's ByteSize() encodes the whole model to count it (measured: +1x the fp32 weights).
    weights = sum(_nbytes(onnx, t) for t in proto.graph.initializer)
    if len(model.graph) + weights <= min(config.threshold, PROTOBUF_LIMIT):
        return bytes(proto.SerializeToString())
    folder = work_folder()
    try:
        return shard_model_proto(proto, folder, file="model.onnx", config=config)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _nbytes(onnx: Any, tensor: Any) -> int:
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize


def int8_refusal(model: OnnxModel) -> str | None:
    """Why int8 is refused by policy for this graph, or None when it may be quantized."""
    convs = sorted(op_types(model) & CONV_OPS)
    if convs:
        return (
            f"int8 skipped by policy: the graph has convolutions ({', '.join(convs)}), and dynamic int8 "
            "convolutions ran 2.5-4.6x slower than fp32 on ONNX Runtime's CPU kernels"
        )
    return None


@record
class Int8Scheme:
    """One way to quantize to int8. The compiler tries the schemes fastest first and keeps the first that passes
    the quality gate, so the artifact is the fastest one that is still accurate enough."""

    name: str
    per_channel: bool
    description: str = ""


# Fastest first (MiniLM 1x128 on this CPU, see benchmarks/compile_speed.py). A third, "mixed" scheme (per tensor,
# FFN output projections per channel: cosine 0.9918) was dropped: in two sessions' runs it was never faster than
# all per channel (17.3 vs 15.5 ms, 15.1 vs 15.1), which is also more accurate (0.9927).
INT8_SCHEMES: tuple[Int8Scheme, ...] = (
    Int8Scheme("dynamic-per-tensor", per_channel=False, description="all weights per tensor"),
    Int8Scheme("dynamic-per-channel", per_channel=True, description="all weights per channel"),
)
DEFAULT_OPS = ("MatMul", "Attention", "LSTM", "Gemm")


def quantize_int8(
    model: OnnxModel,
    scheme: Int8Scheme,
    *,
    op_types_to_quantize: Sequence[str] | None = None,
    external_data: ExternalDataConfig | None = None,
) -> OnnxModel:
    """Dynamic int8 (weights int8, activations quantized at run time) with ORT's quantizer; never convolutions.

    A ``LargeModel`` is quantized from its shards with the output written as external data; the result is bytes
    when it fits under ``external_data.threshold``, else a ``LargeModel`` again."""
    onnx = import_onnx()
    graph = onnx.load_from_string(model.graph if isinstance(model, LargeModel) else model)
    names = [node.name for node in graph.graph.node if node.op_type not in CONV_OPS]
    ops = list(op_types_to_quantize or DEFAULT_OPS)
    if isinstance(model, LargeModel):
        return _quantize_large(model, names, scheme, ops, external_data or ExternalDataConfig.from_env())
    with tempfile.TemporaryDirectory() as tmp, _quiet_ort_tools():
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        src.write_bytes(model)
        _quantize(src, dst, nodes=names, per_channel=scheme.per_channel, ops=ops)
        return dst.read_bytes()


def _quantize_large(
    model: LargeModel, nodes: Sequence[str], scheme: Int8Scheme, ops: Sequence[str], config: ExternalDataConfig
) -> OnnxModel:
    """The quantizer reads the shards where they lie (the graph's own external-data references) and writes its
    output as external data; that output is then packed into shards or, when small enough, read back as bytes."""
    onnx = import_onnx()
    folder = work_folder()
    large = False
    try:
        dst = folder / "quantized" / "model.onnx"
        dst.parent.mkdir()
        with _quiet_ort_tools():
            _quantize(model.path, dst, nodes=nodes, per_channel=scheme.per_channel, ops=ops, external=True)
        written = sum(p.stat().st_size for p in dst.parent.iterdir())
        if written <= min(config.threshold, PROTOBUF_LIMIT):
            return bytes(onnx.load_model(str(dst)).SerializeToString())
        large = True
        return shard_onnx_file(dst, folder, file="model.onnx", config=config)
    finally:
        shutil.rmtree(folder / "quantized" if large else folder, ignore_errors=True)


PROTOBUF_LIMIT = (2 << 30) - 1  # ONNX's protobuf cannot serialize a model past 2 GB


def _quantize(
    src: Path, dst: Path, *, nodes: Sequence[str], per_channel: bool, ops: Sequence[str], external: bool = False
) -> None:
    onnx = import_onnx()
    quantization = require("onnxruntime.quantization", purpose="int8 quantization")

    quantization.quantize_dynamic(
        src,
        dst,
        weight_type=quantization.QuantType.QInt8,
        per_channel=per_channel,
        op_types_to_quantize=list(ops),
        nodes_to_quantize=list(nodes),
        # Fused graphs hold contrib ops whose output types the quantizer cannot infer; they are float.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        use_external_data_format=external,
    )


# The static int8 artifact: Q/DQ ONNX from NNCF, run by OpenVINO (its int8 kernels need the Q/DQ pairs; ONNX Runtime's
# own static Q/DQ path ran MiniLM slower than fp32 here, 0.90x of torch eager, so it is not offered).
STATIC_INT8_FILE = "model.int8.openvino.onnx"
STATIC_INT8_SCHEME = "static-qdq-nncf"


def static_int8_unavailable() -> str | None:
    """Why the static int8 (OpenVINO) artifact cannot be built here, or None."""
    import importlib.util

    missing = [m for m in ("nncf", "openvino") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed ({OPENVINO.command})"
    return None


STATIC_INT8_PRESETS = ("performance", "mixed")


def default_static_preset(transformer: bool) -> str:
    """The NNCF preset ``quantize_static_int8`` uses when none is given ("default": NNCF's own); the manifest's
    target records it."""
    return "performance" if transformer else "default"


def quantize_static_int8(
    model: bytes, calibration: Sequence[Mapping[str, Any]], *, transformer: bool, preset: str | None = None
) -> bytes:
    """Static int8 with NNCF's post-training quantization: weights per channel, activation ranges from ``calibration``
    (real inputs, never the evaluation set). ``transformer`` keeps the ops NNCF knows to be sensitive in Transformers
    (softmax, LayerNorm inputs) in float: MiniLM's mean cosine 0.993 with it, 0.56 without (measured here).

    ``preset``: NNCF's quantization preset. Transformers get "performance" (symmetric activations) by default instead
    of NNCF's "mixed" (asymmetric): OpenVINO then runs less float arithmetic around its int8 matmuls (per-node
    profile, benchmarks/int8_ops.py), MiniLM 1x128 2-7% faster at the same quality (cosine 0.9939 vs 0.9940).
    Other models keep NNCF's default unless asked. ``model`` must be a plain ONNX graph: NNCF does not know ONNX
    Runtime's fused contrib operators.
    """
    if preset is not None and preset not in STATIC_INT8_PRESETS:
        raise ConfigError(f"unknown static int8 preset {preset!r}: expected one of {', '.join(STATIC_INT8_PRESETS)}")
    onnx = import_onnx()
    nncf = require("nncf", purpose="static int8 quantization")
    graph = onnx.load_from_string(model)
    options: dict[str, Any] = {"model_type": nncf.ModelType.TRANSFORMER} if transformer else {}
    chosen = preset or default_static_preset(transformer)
    if chosen != "default":
        options["preset"] = (
            nncf.QuantizationPreset.PERFORMANCE if chosen == "performance" else nncf.QuantizationPreset.MIXED
        )
    sink = io.StringIO()
    # NNCF draws its own progress bars and logs advice; the compile pipeline shows one step for all of it.
    with _quiet_ort_tools(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        nncf.set_log_level(logging.ERROR)
        quantized = nncf.quantize(graph, nncf.Dataset(list(calibration)), subset_size=len(calibration), **options)
    return quantized.SerializeToString()
