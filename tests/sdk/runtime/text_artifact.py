"""A tiny text model as an artifact folder with a text processor: a word-level tokenizer.json (built with the
``tokenizers`` library) and an ONNX graph whose 'embedding' is [sum of ids, number of tokens] per text."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from sdk.artifacts.integrity import sha256_bytes
from sdk.artifacts.manifest import ArtifactFile, ExtraFile, Manifest, Source, TensorSpec, write_manifest
from sdk.artifacts.processors_schema import OutputSpec, ProcessorsSpec, TextSpec

VOCAB = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[UNK]": 3, "the": 4, "cat": 5, "sat": 6, "on": 7, "mat": 8, "a": 9}
CLS, SEP, UNK = 1, 2, 3


def tokenizer_json() -> bytes:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)]
    )
    return tok.to_str().encode("utf-8")


def text_model() -> bytes:
    """(input_ids, attention_mask) int64 [batch, sequence] -> embedding float32 [batch, 2]."""
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 2])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Mul", ["input_ids", "attention_mask"], ["kept"]),
        helper.make_node("Cast", ["kept"], ["kept_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["kept_f", "axes"], ["total"], keepdims=1),
        helper.make_node("ReduceSum", ["mask_f", "axes"], ["count"], keepdims=1),
        helper.make_node("Concat", ["total", "count"], ["embedding"], axis=1),
    ]
    graph = helper.make_graph(nodes, "text", [ids, mask], [out], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_text_artifact(
    folder: Path,
    *,
    max_length: int = 6,
    truncation_side: str = "right",
    normalize: str = "none",
    probe: tuple[str, str] | None = None,
) -> Path:
    """``probe``: the (probe_sha256, tokenizers_version) the manifest records; None records none (an artifact
    compiled before the probe existed)."""
    folder.mkdir(parents=True, exist_ok=True)
    model, tokenizer = text_model(), tokenizer_json()
    (folder / "model.onnx").write_bytes(model)
    (folder / "tokenizer.json").write_bytes(tokenizer)
    text = ("batch", "sequence")
    manifest = Manifest(
        name="tiny-text",
        version="1",
        source=Source(framework="onnx"),
        inputs=(
            TensorSpec(name="input_ids", dtype="int64", shape=(-1, -1), dim_names=text),
            TensorSpec(name="attention_mask", dtype="int64", shape=(-1, -1), dim_names=text),
        ),
        outputs=(TensorSpec(name="embedding", dtype="float32", shape=(-1, 2), dim_names=("batch", None)),),
        artifacts=(
            ArtifactFile(
                kind="onnx", file="model.onnx", sha256=sha256_bytes(model), bytes=len(model), precision="fp32"
            ),
        ),
        files=(
            ExtraFile(file="tokenizer.json", sha256=sha256_bytes(tokenizer), bytes=len(tokenizer), purpose="tokenizer"),
        ),
        processors=ProcessorsSpec(
            text=TextSpec(
                tokenizer="tokenizer.json",
                max_length=max_length,
                truncation_side=truncation_side,
                fills={"input_ids": "ids", "attention_mask": "attention_mask"},
                probe_sha256=probe[0] if probe else "",
                tokenizers_version=probe[1] if probe else "",
            ),
            output=OutputSpec(kind="embedding", output="embedding", normalize=normalize),
        ),
    )
    write_manifest(folder, manifest)
    return folder
