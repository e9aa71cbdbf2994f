"""Scoring any mask matrix with explain's own units, removal and explained scalar: what a benchmark, a reference
explainer (shap's ``f(X)``) or a user's own method needs to be measured on the same terms as ``explain``.

    scorer = Scorer(model, "a sentence", ExplainOptions(compare="another one"))
    scorer.units[0]                      # the words, as explain names them
    scorer(np.array([[1, 0, 1, 1]]))     # the cosine with the second word removed
    score_masks(model, inputs, [masks])  # the same in one function, every item's rows in shared calls
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from sdk.errors import InvalidInput
from sdk.explain.batching import Forward, Runner, batch_cap
from sdk.explain.core import faithfulness_scores, rows_of, stack
from sdk.explain.options import ExplainOptions
from sdk.explain.scalar import Scalar, Target
from sdk.explain.units import derive, modality
from sdk.runtime.model import LoadedModel


class Scorer:
    """The explained scalar of mask rows (rows x units, 1 keeps a unit, 0 removes it; images blend in between) over
    each item of ``inputs``. One runtime call on creation gives each item's target (``options.target``, else the
    predicted class; ``options.compare`` for embeddings), ``value`` (every unit kept) and ``base_value`` (none);
    then every call runs the rows given (in cap-sized calls when the manifest caps the batch). No item limit."""

    def __init__(
        self, model: LoadedModel, inputs: Any, options: ExplainOptions | None = None, *, forward: Forward | None = None
    ) -> None:
        options = options or ExplainOptions()
        modality(model)
        scalar = Scalar(model, options)
        self.subject = derive(model, inputs, options.compare, sys.maxsize)
        self.runner = Runner(forward or model.run_validated, batch_cap(model), None, self.subject.join)
        compare_rows = 1 if self.subject.compare is not None else 0
        blocks = [self.subject.compare] if self.subject.compare is not None else []
        ends = [np.stack([np.ones(item.n), np.zeros(item.n)]) for item in self.subject.items]
        blocks += [self.subject.feeds(i, m) for i, m in enumerate(ends)]
        out = self.runner.run(blocks)
        per_item = [rows_of(out, compare_rows + 2 * i, compare_rows + 2 * i + 2) for i in range(len(ends))]
        compare = rows_of(out, 0, 1) if compare_rows else None
        self.targets: list[Target] = scalar.targets(stack([rows_of(o, 0, 1) for o in per_item]), compare)
        ends_values = [t.values(o) for t, o in zip(self.targets, per_item)]
        self.value = [float(v[0]) for v in ends_values]
        self.base_value = [float(v[1]) for v in ends_values]

    @property
    def units(self) -> list[list[str]]:
        """Each item's units, as ``explain`` names them."""
        return [item.units for item in self.subject.items]

    @property
    def calls(self) -> int:
        return self.runner.calls

    @property
    def rows(self) -> int:
        return self.runner.rows

    def __call__(self, masks: Any, index: int = 0) -> np.ndarray:
        """The scalar of item ``index`` for each row of ``masks`` [rows, units] (one row: a [units] vector)."""
        if not 0 <= index < len(self.subject.items):
            raise InvalidInput(f"item {index} is out of range: {len(self.subject.items)} item(s)")
        masks = self._checked(masks, index)
        return self.targets[index].values(self.runner.run([self.subject.feeds(index, masks)]))

    def score(self, masks: Sequence[Any]) -> list[np.ndarray]:
        """One mask matrix per item, every item's rows in shared calls: the scalar of each row, per item."""
        if len(masks) != len(self.subject.items):
            raise InvalidInput(f"{len(masks)} mask matrices for {len(self.subject.items)} items")
        checked = [self._checked(m, i) for i, m in enumerate(masks)]
        blocks = [self.subject.feeds(i, m) for i, m in enumerate(checked) if len(m)]
        out = self.runner.run(blocks) if blocks else {}
        values, start = [], 0
        for i, m in enumerate(checked):
            values.append(self.targets[i].values(rows_of(out, start, start + len(m))) if len(m) else np.zeros(0))
            start += len(m)
        return values

    def _checked(self, masks: Any, index: int) -> np.ndarray:
        n = self.subject.items[index].n
        array = np.asarray(masks, dtype=np.float64)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] != n:
            raise InvalidInput(f"masks of item {index} have shape {list(array.shape)}; its {n} units need [rows, {n}]")
        if not np.all((array >= 0.0) & (array <= 1.0)):
            raise InvalidInput(f"masks of item {index} hold values outside [0, 1] (1 keeps a unit, 0 removes it)")
        return array


def score_masks(
    model: LoadedModel,
    inputs: Any,
    masks: Sequence[Any],
    options: ExplainOptions | None = None,
    *,
    forward: Forward | None = None,
) -> list[np.ndarray]:
    """The explained scalar of each row of each item's mask matrix (``masks[i]``: [rows, units of item i]), with
    ``explain``'s units, removal and target (``options`` gives ``target`` and ``compare``): a reference call, then
    every item's rows in shared calls. ``Scorer`` keeps the reference for repeated scoring."""
    return Scorer(model, inputs, options, forward=forward).score(masks)


def score_attributions(
    model: LoadedModel,
    inputs: Any,
    attributions: Sequence[np.ndarray],
    options: ExplainOptions | None = None,
    *,
    forward: Forward | None = None,
) -> list[dict[str, float]]:
    """The faithfulness (``sdk.explain.faithfulness``) of given attributions, one array per item of ``inputs``, with
    the units, removal and explained scalar ``explain`` uses: the benchmark scores random and reference
    attributions with it. ``options`` gives ``target`` and ``compare``; no item limit; calls as the batch allows."""
    scorer = Scorer(model, inputs, options, forward=forward)
    items = scorer.subject.items
    if len(attributions) != len(items):
        raise InvalidInput(f"{len(attributions)} attribution arrays for {len(items)} items")
    arrays = [np.asarray(a, dtype=np.float64).reshape(-1) for a in attributions]
    for i, (a, item) in enumerate(zip(arrays, items)):
        if len(a) != item.n:
            raise InvalidInput(f"attributions of item {i} hold {len(a)} values for its {item.n} units")
    ends = [np.array([v, b]) for v, b in zip(scorer.value, scorer.base_value)]
    return faithfulness_scores(scorer.runner, scorer.subject, scorer.targets, arrays, ends)
