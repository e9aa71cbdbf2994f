"""Text -> token ids with the artifact's own ``tokenizer.json`` (the ``tokenizers`` library, the ``text`` extra).

Truncation is the manifest's (``max_length``, ``truncation_side``), set here explicitly whatever the file says, and
reported per item; padding is done here (to the longest item, or to ``max_length``), so the file's own padding never
applies. Strings, or UTF-8 bytes (as the wire carries them); an empty one is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from sdk.artifacts.processors_schema import TextSpec
from sdk.errors import InvalidInput, ManifestError
from sdk.extras import require
from sdk.runtime.processors.result import Encoded

KIND = "text"


def is_text(value: Any) -> bool:
    return isinstance(value, (str, bytes, bytearray))


def as_strings(raw: Any, what: str) -> list[str]:
    """One string or a list of them (str or UTF-8 bytes) as a list of str; InvalidInput names the item at fault."""
    items: Sequence[Any]
    if is_text(raw):
        items = [raw]
    elif isinstance(raw, np.ndarray) and raw.dtype.kind in "OUS":
        items = raw.reshape(-1).tolist()
    elif isinstance(raw, (list, tuple)):
        items = raw
    else:
        raise InvalidInput(f"{what} takes text: a string or a list of strings, got {type(raw).__name__}")
    if not items:
        raise InvalidInput(f"{what} got an empty list; send at least one string")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, (bytes, bytearray)):
            try:
                item = bytes(item).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"{what}: text {i} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
        if not isinstance(item, str):
            raise InvalidInput(
                f"{what}: item {i} is {type(item).__name__}, not a string; a list of text holds strings only "
                "(send tensors as a dict of arrays instead)"
            )
        if not item.strip():
            raise InvalidInput(f"{what}: text {i} is empty (or only whitespace); send at least one word")
        out.append(item)
    return out


class TextEncoder:
    """Tokenizes a batch of texts into the model inputs ``spec.fills`` names. Thread-safe; the tokenizer is built
    from the verified file bytes on first use (so a model called with tensors never needs ``tokenizers``)."""

    kind = KIND

    def __init__(self, spec: TextSpec, tokenizer_json: bytes, *, model: str) -> None:
        self.spec = spec
        self.model = model
        self._json = tokenizer_json
        self._tokenizer: Any = None
        self._counter: Any = None  # the same tokenizer without truncation: counts the tokens of a truncated text
        self._lock = threading.Lock()

    def takes(self, raw: Any) -> bool:
        if is_text(raw):
            return True
        if isinstance(raw, np.ndarray):
            return raw.dtype.kind in "OUS"
        return isinstance(raw, (list, tuple)) and any(is_text(item) for item in raw)

    def prepare(self) -> Any:
        """The configured tokenizer (built once)."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._build()
        return self._tokenizer

    def _build(self, *, truncate: bool = True) -> Any:
        tokenizers = require("tokenizers", purpose=f"text input to {self.model} (its tokenizer.json)")
        try:
            tok = tokenizers.Tokenizer.from_str(self._json.decode("utf-8"))
        except Exception as exc:  # the Rust library raises its own Exception for any malformed file
            raise ManifestError(f"{self.model}: {self.spec.tokenizer} is not a tokenizers file: {exc}") from exc
        tok.no_padding()
        tok.no_truncation()
        if truncate:
            tok.enable_truncation(max_length=self.spec.max_length, direction=self.spec.truncation_side)
        return tok

    def _token_counts(self, texts: list[str], encodings: list[Any]) -> np.ndarray:
        """Each text's tokens before truncation. A truncated text (one with overflowing pieces) is encoded again
        without truncation: what the pieces hold differs between tokenizers releases (0.23.3 repeats the special
        tokens in each piece, 0.23.2 does not), so adding them up miscounted on one or the other."""
        tokens = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        cut = [i for i, e in enumerate(encodings) if e.overflowing]
        if cut:
            if self._counter is None:
                with self._lock:
                    if self._counter is None:
                        self._counter = self._build(truncate=False)
            for i, full in zip(cut, self._counter.encode_batch([texts[i] for i in cut])):
                tokens[i] = max(len(full.ids), tokens[i] + 1)  # truncated: at least one token was cut
        return tokens

    def encode(self, raw: Any) -> Encoded:
        texts = as_strings(raw, f"input of {self.model}")
        tok = self.prepare()
        encodings = tok.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        tokens = self._token_counts(texts, encodings)
        width = int(lengths.max()) if self.spec.padding == "longest" else self.spec.max_length
        columns = {
            "ids": np.full((len(texts), width), self.spec.pad_id, dtype=np.int64),
            "attention_mask": np.zeros((len(texts), width), dtype=np.int64),
            "type_ids": np.zeros((len(texts), width), dtype=np.int64),
        }
        wanted = set(self.spec.fills.values())
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            columns["ids"][row, :n] = encoding.ids
            if "attention_mask" in wanted:
                columns["attention_mask"][row, :n] = encoding.attention_mask
            if "type_ids" in wanted:
                columns["type_ids"][row, :n] = encoding.type_ids
        truncated = tokens > lengths
        notes = tuple(
            f"text {i}: {tokens[i]} tokens, truncated to {self.spec.max_length} "
            f"(the {self.spec.truncation_side} end was cut)"
            for i in np.flatnonzero(truncated)
        )
        return Encoded(
            feeds={name: columns[what] for name, what in self.spec.fills.items()},
            count=len(texts),
            report={"tokens": tokens, "length": lengths, "truncated": truncated},
            notes=notes,
        )
