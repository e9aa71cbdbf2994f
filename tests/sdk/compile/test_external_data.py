"""`sdk compile` writes a model over the threshold as a graph plus external-data shards, each listed in the manifest
with its sha256 and size; every precision loads and answers as the model that passed the gate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from sdk import load
from sdk.artifacts import read_manifest, verify_artifact
from sdk.artifacts.manifest import Manifest
from sdk.compile import compile_source
from sdk.compile.external import ExternalDataConfig, externalize, shard_name
from sdk.compile.sources import from_torch_factory
from sdk.compile.torch_export import run_onnx
from sdk.errors import ArtifactError
from sdk.runtime.config import RuntimeConfig

SHARD = 64 * 1024
TINY = ExternalDataConfig(threshold=16 * 1024, shard_bytes=SHARD, min_tensor_bytes=1024)


def make_wide():  # a factory for `from_torch_factory`: ~140 KB of weights in five tensors
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 96), nn.ReLU(), nn.Linear(96, 160), nn.ReLU(), nn.Linear(160, 96))
    model = nn.Sequential(model, nn.ReLU(), nn.Linear(96, 5))
    inputs = {"features": np.random.default_rng(0).normal(size=(64, 24)).astype(np.float32)}
    return model, inputs


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory):
    source = from_torch_factory(f"{Path(__file__)}:make_wide", None, "wide")
    out = tmp_path_factory.mktemp("compiled") / "wide"
    result = compile_source(source, out, precisions="fp32,fp16,int8", external_data=TINY)
    return source, result


def test_a_model_over_the_threshold_is_written_as_several_listed_shards(compiled) -> None:
    _, result = compiled
    manifest = read_manifest(result.folder)
    fp32 = manifest.artifact(precision="fp32")
    assert [d.file for d in fp32.external] == [shard_name("model.onnx", i) for i in range(len(fp32.external))]
    assert len(fp32.external) >= 3 and all(d.bytes <= SHARD for d in fp32.external)
    for shard in fp32.external:
        data = (result.folder / shard.file).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (shard.sha256, shard.bytes)
    assert fp32.bytes < 4096  # the graph alone
    verify_artifact(result.folder, manifest)  # every shard is among the files the manifest vouches for


def test_every_precision_of_an_externalized_model_answers_as_the_gated_model(compiled) -> None:
    source, result = compiled
    manifest = read_manifest(result.folder)
    inputs = source.evaluation.inputs
    shipped = {c.precision: c.model for c in result.candidates}
    assert set(shipped) == {"fp32", "fp16", "int8"}
    for precision, model in shipped.items():
        artifact = manifest.artifact(precision=precision)
        assert artifact.external, f"{artifact.file} was not externalized"
        want = run_onnx(model, inputs)
        with load(result.folder, precision=precision, config=RuntimeConfig(warmup_runs=0)) as loaded:
            got = loaded(inputs)
        assert loaded.info.artifact == artifact.file
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6)


def test_a_model_under_the_threshold_is_one_file_and_its_manifest_has_no_external_key(tmp_path: Path) -> None:
    source = from_torch_factory(f"{Path(__file__)}:make_wide", None, "wide")
    big = ExternalDataConfig(threshold=10**9, shard_bytes=SHARD, min_tensor_bytes=1024)
    result = compile_source(source, tmp_path / "wide", external_data=big)
    document = json.loads((result.folder / "manifest.json").read_text())
    assert all("external" not in a for a in document["artifacts"])
    assert sorted(p.name for p in result.folder.iterdir()) == ["manifest.json", "model.onnx"]


def test_a_manifest_without_the_external_field_reads_and_writes_exactly_as_before(digits_artifact: Path) -> None:
    text = (digits_artifact / "manifest.json").read_text()
    manifest = Manifest.from_json(text)
    assert all(a.external == () for a in manifest.artifacts)
    assert manifest.to_json() == text


def test_a_tensor_larger_than_a_shard_gets_a_shard_of_its_own() -> None:
    from onnx import TensorProto, helper, numpy_helper

    weights = [np.full((64, 64), i, np.float32) for i in range(3)]  # 16 KiB each
    nodes = [helper.make_node("MatMul", [f"h{i}", f"w{i}"], [f"h{i + 1}"]) for i in range(3)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("h0", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("h3", TensorProto.FLOAT, [1, 64])],
        [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(weights)],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8  # what every onnxruntime the edge extra allows reads; a newer onnx writes a newer one
    model = proto.SerializeToString()
    config = ExternalDataConfig(threshold=0, shard_bytes=10_000, min_tensor_bytes=1024)
    _, shards = externalize(model, file="m.onnx", config=config)
    assert [len(data) for _, data in shards] == [16384] * 3
    _, paired = externalize(model, file="m.onnx", config=ExternalDataConfig(threshold=0, shard_bytes=40_000))
    assert [len(data) for _, data in paired] == [32768, 16384]


def test_negative_external_data_settings_are_refused_by_name() -> None:
    with pytest.raises(ArtifactError, match="shard_bytes 0"):
        ExternalDataConfig.from_env(shard_bytes=0)
