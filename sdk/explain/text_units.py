"""Text units: the words of each text, as the artifact's own tokenizer splits them.

Raw text: the tokenizer's ``Encoding`` gives each token's word (``word_ids``) and characters (``offsets``); a unit is
one word, labelled with its text; special tokens ([CLS], [SEP]) and padding are never units. Tensors (ids with an
attention mask): the ids are decoded with the same tokenizer and WordPiece continuations ("##ing") joined to their
word.

Removal drops the word's tokens from the sequence (the rest move up, padding fills the end), and every row runs at
its item's own length, whatever padding the item came with (rows of several items in one call: the longest item's).
Not [MASK] or [UNK]: a sentence encoder hardly saw [MASK] where the word was. Dropping, not attention_mask 0 in place
(the first version): measured on MiniLM fp32, 40 held-out sentences each compared with its nearest neighbour,
occlusion, deleting the top 3 words lowered the pair's cosine 8.4x as much as 3 random words with dropping, 5.4x with
the mask (kernel_shap at 256 rows: 8.4x vs 5.0x); deletion AUC 0.33 vs random 0.75 with dropping, 0.53 vs 0.81 with
the mask (medians). Rows are cut to their item's length only where the model takes an attention mask and its
sequence dimension is free; a model without an attention mask gets the pad id in the word's place instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sdk.artifacts.processors_schema import TextSpec
from sdk.errors import InvalidInput
from sdk.explain import faithfulness
from sdk.explain.units import Item, Subject, _check_items
from sdk.runtime.model import LoadedModel
from sdk.runtime.processors.text import as_strings

_STARTS = ("Ġ", "▁")  # word-start marks of byte-level BPE and SentencePiece
_IMAGE_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image"}


class TextSubject(Subject):
    modality = "text"
    points = faithfulness.TEXT_POINTS
    removal = "drop"  # or "mask": the word's tokens stay in place with attention_mask 0

    def __init__(
        self,
        model: LoadedModel,
        feeds: Mapping[str, np.ndarray],
        spec: TextSpec,
        words: list[list[tuple[str, list[int]]]],
    ) -> None:
        self.spec = spec
        by_fill = {what: name for name, what in spec.fills.items()}
        self._ids = by_fill["ids"]
        self._mask = by_fill.get("attention_mask")
        width = next(iter(feeds.values())).shape[1]
        # Rows shrink (trailing padding cut, removed words dropped) only where the model takes an attention mask, every
        # input is one the tokenizer fills and the sequence dimension is free: then padding is ignored by the model.
        fixed = any(len(s.shape) > 1 and s.shape[1] > 0 for s in model.manifest.inputs)
        self._shrink = self._mask is not None and not fixed and set(feeds) <= set(spec.fills)
        self._unit_of = np.full((len(words), width), -1, dtype=np.int64)
        self._length = np.full(len(words), width, dtype=np.int64)
        items = []
        for i, item_words in enumerate(words):
            for unit, (_, positions) in enumerate(item_words):
                self._unit_of[i, positions] = unit
            if self._shrink:
                assert self._mask is not None
                real = np.flatnonzero(np.asarray(feeds[self._mask][i]) != 0)
                self._length[i] = int(real[-1]) + 1 if len(real) else width
            items.append(Item([label for label, _ in item_words], "word", None, None))
        super().__init__(model, feeds, items)

    def feeds(self, index: int, masks: np.ndarray) -> dict[str, np.ndarray]:
        rows, length = len(masks), int(self._length[index])
        unit_of = self._unit_of[index, :length]
        removed = np.zeros((rows, length), dtype=bool)
        tokens = unit_of >= 0
        removed[:, tokens] = np.asarray(masks)[:, unit_of[tokens]] <= 0.5
        base = {k: v[index, :length] for k, v in self.base.items()}
        if self._mask is None:
            out = {k: np.repeat(v[None], rows, axis=0) for k, v in base.items()}
            out[self._ids] = np.where(removed, self.spec.pad_id, out[self._ids]).astype(out[self._ids].dtype)
            return out
        if self.removal == "mask" or not self._shrink:
            out = {k: np.repeat(v[None], rows, axis=0) for k, v in base.items()}
            out[self._mask] = np.where(removed, 0, out[self._mask]).astype(out[self._mask].dtype)
            return out
        # Drop: each row's kept tokens moved to the front in order, then padding to the item's length: a row's width
        # never depends on the rows it is run with, so neither do its outputs (a deadline's two stages, or one).
        kept = ~removed
        order = np.argsort(removed, axis=1, kind="stable")
        valid = np.take_along_axis(kept, order, axis=1)
        out = {}
        for name, values in base.items():
            fill = self.spec.pad_id if name == self._ids else 0
            out[name] = np.where(valid, values[order], fill).astype(values.dtype)
        return out

    def active(self, index: int) -> np.ndarray:
        return np.ones(self.items[index].n, dtype=bool)  # a word always has tokens to remove

    def join(self, blocks: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Blocks of rows of different lengths padded to the longest (pad id, attention mask 0)."""
        width = max(next(iter(b.values())).shape[1] for b in blocks)
        return {k: np.concatenate([_pad(b, self.spec, width)[k] for b in blocks]) for k in blocks[0]}


def _compare_text(model: LoadedModel, compare: str | bytes) -> str:
    if isinstance(compare, bytes):
        for magic, what in _IMAGE_MAGIC.items():
            if compare.startswith(magic):
                raise InvalidInput(f"parameter 'compare' is {what}, but {model.manifest.ref} takes text")
        try:
            return compare.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"parameter 'compare' is not UTF-8 text ({exc.reason}); send a text") from exc
    return compare


def _pad(feeds: Mapping[str, np.ndarray], spec: TextSpec, width: int) -> dict[str, np.ndarray]:
    out = {}
    for name, array in feeds.items():
        missing = width - array.shape[1]
        fill = spec.pad_id if spec.fills.get(name) == "ids" else 0
        out[name] = np.pad(array, ((0, 0), (0, missing)), constant_values=fill) if missing > 0 else array
    return out


def _raw_words(tok: Any, texts: list[str]) -> list[list[tuple[str, list[int]]]]:
    words = []
    for text, encoding in zip(texts, tok.encode_batch(texts)):
        groups: dict[int, list[int]] = {}
        for position, word in enumerate(encoding.word_ids):
            if word is not None and not encoding.special_tokens_mask[position]:
                groups.setdefault(word, []).append(position)
        offsets = encoding.offsets
        words.append([(text[offsets[p[0]][0] : offsets[p[-1]][1]], p) for p in groups.values()])
    return words


def _special_ids(tok: Any) -> set[int]:
    """Ids of special tokens: those the tokenizer registers as special, and those its post-processor adds (a
    template's [CLS] and [SEP] need not be registered)."""
    special = {i for i, added in tok.get_added_tokens_decoder().items() if added.special}
    plain = tok.encode("a", add_special_tokens=False).ids
    return special | (set(tok.encode("a", add_special_tokens=True).ids) - set(plain))


def _tensor_words(tok: Any, ids: np.ndarray, mask: np.ndarray) -> list[list[tuple[str, list[int]]]]:
    """Words from token ids: WordPiece continuations ("##ing") join the word before; byte-level BPE and
    SentencePiece mark a word's start ("Ġ", "▁"), so a token without the mark continues the word; a tokenizer with
    neither (word-level) makes each token a word."""
    special = _special_ids(tok)
    model = tok.model
    prefix = getattr(model, "continuing_subword_prefix", None) if type(model).__name__ == "WordPiece" else None
    words = []
    for row, keep in zip(ids, mask):
        tokens = [
            (tok.id_to_token(int(row[p])) or "", int(p)) for p in np.flatnonzero(keep) if int(row[p]) not in special
        ]
        marked = not prefix and any(t.startswith(_STARTS) for t, _ in tokens)
        groups: list[tuple[list[str], list[int]]] = []
        for token, position in tokens:
            continues = (prefix and token.startswith(prefix)) or (marked and not token.startswith(_STARTS))
            if continues and groups:
                groups[-1][0].append(token[len(prefix) :] if prefix else token)
                groups[-1][1].append(position)
            else:
                groups.append(([token.lstrip("".join(_STARTS))], [position]))
        words.append([("".join(parts), positions) for parts, positions in groups])
    return words


def derive_text(model: LoadedModel, inputs: Any, compare: str | bytes | None, max_items: int) -> TextSubject:
    processors = model.processors
    assert processors is not None and processors.spec.text is not None
    spec = processors.spec.text
    what = f"input of {model.manifest.ref}"
    tok = processors.input.prepare() if processors.input is not None else None
    compare_text = _compare_text(model, compare) if compare is not None else None
    if processors.takes(inputs):
        texts = as_strings(inputs, what)
        _check_items(len(texts), max_items)
        encoded = processors.encode(texts + ([compare_text] if compare_text is not None else [])).feeds
        feeds = {k: v[: len(texts)] for k, v in encoded.items()}
        compare_feeds = {k: v[len(texts) :] for k, v in encoded.items()} if compare_text is not None else None
        words = _raw_words(tok, texts)
    else:
        feeds = model.validator(inputs)
        count = len(next(iter(feeds.values())))
        _check_items(count, max_items)
        by_fill = {w: n for n, w in spec.fills.items()}
        ids = feeds[by_fill["ids"]]
        mask_name = by_fill.get("attention_mask")
        mask = feeds[mask_name] if mask_name is not None else np.ones_like(ids)
        words = _tensor_words(tok, ids, mask)
        compare_feeds = dict(processors.encode(compare_text).feeds) if compare_text is not None else None
    for i, item_words in enumerate(words):
        if not item_words:
            raise InvalidInput(f"{what}: text {i} has no words to explain (only special tokens or padding)")
    subject = TextSubject(model, feeds, spec, words)
    subject.compare = compare_feeds
    return subject
