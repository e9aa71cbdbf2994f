"""A scale-test encoder: MiniLM's architecture (BERT, eager attention, mean pooling, L2 norm) made wider and deeper
until its fp32 weights pass 2.3 GB, with seeded random weights. Its quality is not the point: it exists to prove
export, sharding, gating, deploy and pull at a size past ONNX's 2 GB protobuf limit (issue #19).

Weights come from numpy's seeded generator, not torch's initialisers: numpy's is the same on every CPU, so the
weights (and their sha256) are reproducible across machines; torch's vectorised kernels differ by instruction set.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from models.minilm_l6.model import SentenceEncoder

VOCAB = 30522  # MiniLM's WordPiece vocabulary size (the ids are random here; no tokenizer ships)
MAX_POSITIONS = 512


@dataclass(frozen=True)
class Shape:
    """The encoder's size. ``FULL`` is the scale-test model; tests build the same recipe at ``TINY``."""

    layers: int
    hidden: int
    heads: int
    vocab: int = VOCAB

    @property
    def intermediate(self) -> int:
        return 4 * self.hidden

    def parameters(self) -> int:
        """Weights in the exported graph (BERT's pooler is not used, so not exported)."""
        h, i = self.hidden, self.intermediate
        embeddings = (self.vocab + MAX_POSITIONS + 2) * h + 2 * h
        layer = 4 * (h * h + h) + 2 * h * i + i + h + 4 * h
        return embeddings + self.layers * layer


FULL = Shape(layers=20, hidden=1536, heads=24)  # 612M parameters: 2.45 GB of fp32 weights (MiniLM: 6 x 384)
TINY = Shape(layers=2, hidden=64, heads=2, vocab=1000)


def shape_from_env() -> Shape:
    """``AIAAS_SCALE_TEST_SHAPE=layers,hidden,heads[,vocab]`` builds another size (tests use a tiny one)."""
    text = os.environ.get("AIAAS_SCALE_TEST_SHAPE", "")
    if not text:
        return FULL
    return Shape(*(int(v) for v in text.split(",")))


def build(shape: Shape, seed: int = 0) -> SentenceEncoder:
    from transformers import BertConfig, BertModel

    settings: dict[str, Any] = {
        "vocab_size": shape.vocab,
        "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "intermediate_size": shape.intermediate,
        "max_position_embeddings": MAX_POSITIONS,
        "attn_implementation": "eager",  # as MiniLM's recipe: the graph ORT's BERT optimizer knows
    }
    config = BertConfig(**settings)
    with torch.device("meta"):  # no torch init pass over 2.4 GB: numpy fills every tensor below
        bert = BertModel(config, add_pooling_layer=False)
    bert = bert.to_empty(device="cpu")
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, tensor in [*bert.named_parameters(), *bert.named_buffers()]:  # buffers: position/type ids
            tensor.copy_(torch.from_numpy(_values(rng, name, tuple(tensor.shape), tensor.dtype)))
    return SentenceEncoder(bert).eval()


def _values(rng: np.random.Generator, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
    if dtype == torch.int64:  # the position_ids and token_type_ids buffers
        ids = np.arange(shape[-1], dtype=np.int64) if "position" in name else np.zeros(shape[-1], np.int64)
        return np.broadcast_to(ids, shape).copy()
    if "LayerNorm.weight" in name:
        return np.ones(shape, np.float32)
    if name.endswith("bias") or "LayerNorm" in name:
        return np.zeros(shape, np.float32)
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)  # BERT's initializer range


def describe(shape: Shape) -> dict[str, Any]:
    return {**asdict(shape), "parameters": shape.parameters(), "weight_bytes": 4 * shape.parameters()}


def weights_sha256(module: Any) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
