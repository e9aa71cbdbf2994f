"""Recipe: all-MiniLM-L6-v2 sentence embeddings (PyTorch, pretrained; `train` loads it, nothing is trained).

Reduced precisions must keep a mean cosine >= 0.99 with the fp32 source on real sentences (``sentences.txt``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.minilm_l6.model import (
    MAX_POSITIONS,
    MAX_TOKENS,
    PACKAGE,
    load_encoder,
    reference_tokenize,
    tokenizer,
    tokenizer_json,
    weights_file_sha256,
)
from sdk.artifacts import TensorSpec
from sdk.artifacts.processors_schema import OutputSpec, ProcessorsSpec, TextSpec
from sdk.compile import Evaluation, QualityGate, RawEvaluation, Recipe, Trained, TransformerFusion

NAME = "minilm-l6"
SENTENCES = Path(__file__).with_name("sentences.txt")
CALIBRATION_COUNT = 16
POINTER = "pretrained.json"


def sentences() -> list[str]:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def encode(texts: Sequence[str], max_tokens: int | None = None) -> dict[str, np.ndarray]:
    tok = tokenizer() if max_tokens is None else tokenizer(max_tokens)
    batch = tok.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
    }


def train(*, seed: int = 0, epochs: int | None = None, progress: bool = True) -> Trained:
    """Pretrained: load the packaged weights (``seed``/``epochs`` do not apply)."""
    return Trained(load_encoder(), {"embedding_dim": 384.0})


def save(model: object, folder: Path) -> None:
    """Record which pretrained weights these are (the 90 MB of weights stay in their package)."""
    record = {"package": PACKAGE, "weights_sha256": weights_file_sha256()}
    (folder / POINTER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def load(folder: Path) -> object:
    record = json.loads((Path(folder) / POINTER).read_text(encoding="utf-8"))
    if record["weights_sha256"] != weights_file_sha256():
        raise ValueError(f"the installed {PACKAGE} weights differ from those {folder} was made with")
    return load_encoder()


def evaluation(seed: int) -> Evaluation:
    """The real sentences after the calibration ones, as one padded batch."""
    return Evaluation(encode(sentences()[CALIBRATION_COUNT:]))


def calibration() -> list[dict[str, np.ndarray]]:
    """The calibration sentences one by one, then runs of 2-4 consecutive ones joined (longer real inputs): 58
    inputs of 15-70 tokens, none from the evaluation set."""
    texts = sentences()[:CALIBRATION_COUNT]
    joined = [" ".join(texts[i : i + n]) for n in (2, 3, 4) for i in range(len(texts) - n + 1)]
    return [encode([t]) for t in texts + joined]


def files() -> dict[str, tuple[bytes, str]]:
    return {"tokenizer.json": (tokenizer_json(), "tokenizer")}


def long_texts() -> list[str]:
    """Held-out sentences run together, 20 at a time: real text longer than MAX_TOKENS (about 300 tokens)."""
    held_out = sentences()[CALIBRATION_COUNT:]
    return [" ".join(held_out[i : i + 20]) for i in range(0, len(held_out) - 19, 10)]


def raw_evaluation(seed: int) -> RawEvaluation:
    """The held-out sentences and longer texts, against the package's own tokenizer as sentence-transformers runs
    it (the processor gate: token ids equal for every one, the long ones cut as the source cuts them)."""

    def preprocess(texts: Sequence[str]) -> dict[str, np.ndarray]:
        made = reference_tokenize(list(texts))
        return {k: np.asarray(made[k], dtype=np.int64) for k in ("input_ids", "attention_mask")}

    return RawEvaluation(
        items=sentences()[CALIBRATION_COUNT:] + long_texts(),
        preprocess=preprocess,
        reference=f"transformers' tokenizer of {PACKAGE} (sentence-transformers: max {MAX_TOKENS}, longest_first)",
    )


PROCESSORS = ProcessorsSpec(
    text=TextSpec(
        tokenizer="tokenizer.json",
        max_length=MAX_TOKENS,
        truncation_side="right",
        padding="longest",
        pad_id=0,
        fills={"input_ids": "ids", "attention_mask": "attention_mask"},
    ),
    output=OutputSpec(kind="embedding", output="embedding", normalize="l2"),
)


_TEXT = ("batch", "sequence")
RECIPE = Recipe(
    name=NAME,
    framework="pytorch",
    task="sentence-embedding",
    description="all-MiniLM-L6-v2 sentence encoder: mean pooling and L2 normalisation inside the graph; "
    "tokenize with the shipped tokenizer.json.",
    inputs=(
        TensorSpec(
            name="input_ids",
            dtype="int64",
            shape=(-1, -1),
            dim_names=_TEXT,
            max_shape=(-1, MAX_POSITIONS),
            description="WordPiece ids from tokenizer.json ([CLS] ... [SEP], 0-padded)",
        ),
        TensorSpec(
            name="attention_mask",
            dtype="int64",
            shape=(-1, -1),
            dim_names=_TEXT,
            max_shape=(-1, MAX_POSITIONS),
            description="1 for real tokens, 0 for padding",
        ),
    ),
    outputs=(
        TensorSpec(
            name="embedding",
            dtype="float32",
            shape=(-1, 384),
            dim_names=("batch", None),
            description="unit-length sentence embedding (cosine similarity = dot product)",
        ),
    ),
    train=train,
    save=save,
    load=load,
    evaluation=evaluation,
    quality=QualityGate(metric="cosine", minimum=0.99, output="embedding"),
    transformer=TransformerFusion(model_type="bert", num_heads=12, hidden_size=384),
    files=files,
    calibration=calibration,
    processors=PROCESSORS,
    raw_evaluation=raw_evaluation,
)
