"""Text -> token ids with the artifact's own ``tokenizer.json`` (the ``tokenizers`` library, the ``text`` extra).

Truncation is the manifest's (``max_length``, ``truncation_side``), set here explicitly whatever the file says, and
reported per item; padding is done here (to the longest item, or to ``max_length``), so the file's own padding never
applies. Strings, or UTF-8 bytes (as the wire carries them); an empty one is refused.

The ids come from the ``tokenizers`` library as much as from the file: a release that normalizes, splits or truncates
differently gives other ids, and the model answers differently from what its processor gate checked, silently. So
``sdk compile`` records the sha256 of the ids the configured tokenizer gives ``PROBE_TEXTS`` (fixed texts, no user
data: cased and accented words, punctuation, digits, CJK, emoji, control whitespace, rare words and a text longer
than any ``max_length``) and the release (``probe_sha256``, ``tokenizers_version`` in the manifest). Building the
tokenizer here encodes them again (~3 ms for MiniLM's, beside the ~18 ms of building it) and refuses, with
``ArtifactError``, a release that gives other ids.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from sdk.artifacts.processors_schema import TextSpec
from sdk.errors import ArtifactError, InvalidInput, ManifestError
from sdk.extras import require
from sdk.runtime.processors.result import Encoded

KIND = "text"
_COMMON = ("the", "cat", "sat", "on", "a", "mat,", "and", "it", "was", "2024", "very", "happy.", "Then")
PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "HELLO, World!  It's 3:45pm -- 12.5% off; e-mail me@example.com (ASAP) #42 [x] {y} <z> ~/path_to/file.txt",
    "Café déjà vu: naïve façade, Ærøskøbing, Straße, İstanbul, Ελληνικά, русский, עברית, العربية.",
    "日本語のテキスト、中文字符和한국어 문장. \uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \ufb01 ligature",
    "Emoji \U0001f642\U0001f680\U0001f469\u200d\U0001f4bb and symbols ∑ ≈ ∞ © ™ "
    "\u00a0non-breaking\tspaces\nnew lines\u200bzero width",
    "unbelievably antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    # Longer than any max_length, and its start unlike its end: truncation, and its side, are probed too.
    " ".join(_COMMON[i % len(_COMMON)] for i in range(1500)),
)


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
        self._refused: ArtifactError | None = None  # a file or probe refused once is refused for good: never rebuilt
        self._lock = threading.Lock()

    def takes(self, raw: Any) -> bool:
        if is_text(raw):
            return True
        if isinstance(raw, np.ndarray):
            return raw.dtype.kind in "OUS"
        return isinstance(raw, (list, tuple)) and any(is_text(item) for item in raw)

    def prepare(self) -> Any:
        """The configured tokenizer (built once, and checked against the manifest's probe when it records one)."""
        if self._tokenizer is None:
            with self._lock:
                if self._refused is not None:
                    raise self._refused
                if self._tokenizer is None:
                    try:
                        tok = self._build()
                        self._check_probe(tok)
                    except ArtifactError as exc:  # the verified bytes and this process's release will not change
                        self._refused = exc
                        raise
                    self._tokenizer = tok
        return self._tokenizer

    def _check_probe(self, tok: Any) -> None:
        spec = self.spec
        if not spec.probe_sha256:
            return  # compiled before the probe existed: nothing to compare with
        got = probe_sha256(tok)
        if got != spec.probe_sha256:
            now = tokenizer_version()
            same = now == spec.tokenizers_version
            raise ArtifactError(
                f"{self.model}: {spec.tokenizer} gives other token ids under tokenizers {now} than under "
                f"{spec.tokenizers_version}, which compiled the model and passed its processor gate"
                + (" (the same release: the tokenizer file or the spec differs from what was compiled)" if same else "")
                + "; its answers would not be the gated ones",
                hint=f"install tokenizers=={spec.tokenizers_version}, or compile the model again under {now}",
            )

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


def probe_sha256(tokenizer: Any) -> str:
    """The sha256 of what ``tokenizer`` (configured: truncation set, no padding) makes of ``PROBE_TEXTS``: every
    text's ids, type ids and attention mask, in order."""
    digest = hashlib.sha256()
    for encoding in tokenizer.encode_batch(list(PROBE_TEXTS)):
        for values in (encoding.ids, encoding.type_ids, encoding.attention_mask):
            digest.update(np.asarray(values, dtype="<i8").tobytes())
            digest.update(b"|")
        digest.update(b"\n")
    return digest.hexdigest()


def tokenizer_version() -> str:
    return str(require("tokenizers", purpose="text input (a tokenizer.json)").__version__)


def with_probe(spec: TextSpec, tokenizer_json: bytes, *, model: str) -> TextSpec:
    """``spec`` with the probe's sha256 and the installed ``tokenizers`` release recorded (``sdk compile``)."""
    tok = TextEncoder(dataclasses.replace(spec, probe_sha256="", tokenizers_version=""), tokenizer_json, model=model)
    return dataclasses.replace(spec, probe_sha256=probe_sha256(tok.prepare()), tokenizers_version=tokenizer_version())
