"""``explain``: attributions for a loaded model's answer on the runtime that serves it, in a few batched calls.

The calls: (1) the compare input (embeddings), then every item's unperturbed and empty rows and the method's rows;
(2) the faithfulness curves, which need the attributions. With a deadline, the method's rows run in two stages where
``max_calls`` leaves room (the first alone gives a usable estimate): past the deadline after stage 1, the explanation
returns ``partial`` (attributions from the rows run, faithfulness ``{}``); past it before, ``DeadlineExceeded``.
Without a deadline one stage saves a call. A manifest that caps the batch dimension splits a stage into cap-sized
calls; the rows then shrink to fit ``max_calls``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sdk.errors import DeadlineExceeded, InvalidInput
from sdk.explain import faithfulness, methods
from sdk.explain.batching import Forward, Late, Runner, batch_cap, calls_for
from sdk.explain.options import ExplainOptions
from sdk.explain.result import Explanation, ItemExplanation
from sdk.explain.scalar import Scalar, Target
from sdk.explain.units import Subject, derive, modality
from sdk.runtime.model import LoadedModel

# What "auto" runs per modality: the most faithful method within the default budget, measured on the reference
# models (the figures are in sdk/explain/__init__.py's docstring).
AUTO = {"image": "kernel_shap", "text": "occlusion", "series": "occlusion"}


def _method(asked: str, subject: Subject, ref: str) -> str:
    if asked == "auto":
        return AUTO[subject.modality]
    if asked == "rise" and subject.modality != "image":
        raise InvalidInput(
            f"method 'rise' works on images only; {ref} takes {subject.modality} (use occlusion or kernel_shap)"
        )
    return asked


def _budget(method: str, subject: Subject, options: ExplainOptions, cap: int | None, compare_rows: int) -> list[int]:
    """Method rows per item: max_evals less the faithfulness rows, shrunk to fit max_calls when the batch is capped;
    InvalidInput when below the method's minimum."""
    faith = [faithfulness.rows_needed(item.n, subject.points) for item in subject.items]
    rows = [options.max_evals - f for f in faith]
    for i, (item, r, f) in enumerate(zip(subject.items, rows, faith)):
        least = methods.minimum(method, item.n)
        if r < least:
            raise InvalidInput(
                f"parameter 'max_evals' {options.max_evals} is below the minimum of {least + f} for {method} on item "
                f"{i} ({item.n} {item.unit_kind}s: {least} for the method, {f} for the faithfulness curves)"
            )
    if cap is not None:
        left = options.max_calls - calls_for(sum(faith), cap)
        capacity = left * cap - compare_rows
        if sum(rows) > capacity:
            share = max(capacity, 0) // len(rows)
            rows = [min(r, share) for r in rows]
            worst = max(methods.minimum(method, item.n) for item in subject.items)
            if share < worst:
                raise InvalidInput(
                    f"{subject.model.manifest.ref} takes at most {cap} rows per call: {len(rows)} item(s) need "
                    f"{worst} rows each for {method}, more than max_calls {options.max_calls} can carry; send fewer "
                    "items or raise max_calls"
                )
    return rows


def rows_of(outputs: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    return {k: v[start:stop] for k, v in outputs.items()}


def stack(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def explain(
    model: LoadedModel, inputs: Any, options: ExplainOptions | None = None, *, forward: Forward | None = None
) -> Explanation:
    """Attributions for ``model``'s answer on each item of ``inputs`` (raw inputs its processors take, or a dict of
    tensors with the batch dimension); see ``ExplainOptions`` and the package docstring."""
    options = options or ExplainOptions()
    started = time.perf_counter()
    deadline_at = started + options.deadline_s if options.deadline_s is not None else None
    ref = model.manifest.ref
    modality(model)  # a model without a declared modality is refused first
    scalar = Scalar(model, options)
    subject = derive(model, inputs, options.compare, options.max_items)
    method = _method(options.method, subject, ref)
    cap = batch_cap(model)
    compare_rows = 1 if subject.compare is not None else 0
    budgets = _budget(method, subject, options, cap, compare_rows)
    plans = [
        methods.plan(method, rows, options.seed, item.grid, subject.active(i))
        for i, (item, rows) in enumerate(zip(subject.items, budgets))
    ]
    faith_calls = calls_for(sum(faithfulness.rows_needed(item.n, subject.points) for item in subject.items), cap)
    method_calls = options.max_calls - faith_calls
    first_rows = compare_rows + sum(p.first for p in plans)
    rest_rows = sum(len(p.masks) - p.first for p in plans)
    # Two stages only serve a deadline (what stage 1 gives is what a late explanation returns), and need room
    if deadline_at is None or (rest_rows and calls_for(first_rows, cap) + calls_for(rest_rows, cap) > method_calls):
        for p in plans:
            p.first = len(p.masks)
    runner = Runner(forward or model.run_validated, cap, deadline_at, subject.join)

    blocks = [subject.compare] if subject.compare is not None else []
    blocks += [subject.feeds(i, p.masks[: p.first]) for i, p in enumerate(plans)]
    try:
        first = runner.run(blocks)
    except Late:
        raise DeadlineExceeded(
            f"explaining {ref} passed its deadline of {options.deadline_s} s before a first estimate "
            f"({runner.calls} runtime call(s) made)"
        ) from None
    offsets = np.cumsum([compare_rows] + [p.first for p in plans])
    per_item = [rows_of(first, int(offsets[i]), int(offsets[i + 1])) for i in range(len(plans))]
    compare_out = rows_of(first, 0, 1) if compare_rows else None
    targets = scalar.targets(stack([rows_of(out, 0, 1) for out in per_item]), compare_out)
    values = [t.values(out) for t, out in zip(targets, per_item)]

    partial = False
    if any(len(p.masks) > p.first for p in plans):
        try:
            rest = runner.run([subject.feeds(i, p.masks[p.first :]) for i, p in enumerate(plans)])
            start = 0
            for i, p in enumerate(plans):
                stop = start + len(p.masks) - p.first
                values[i] = np.concatenate([values[i], targets[i].values(rows_of(rest, start, stop))])
                start = stop
        except Late:
            partial = True
    attributions = [methods.estimate(method, p, v) for p, v in zip(plans, values)]
    scores: list[dict[str, float]] = [{} for _ in plans]
    if not partial:
        try:
            scores = faithfulness_scores(runner, subject, targets, attributions, values)
        except Late:
            partial = True
    items = [
        ItemExplanation(
            units=item.units,
            unit_kind=item.unit_kind,
            attributions=np.asarray(a, dtype=np.float64),
            grid=item.grid,
            view=item.view,
            target=t.describe,
            value=float(v[0]),
            base_value=float(v[1]),
            faithfulness=s,
        )
        for item, a, t, v, s in zip(subject.items, attributions, targets, values, scores)
    ]
    return Explanation(
        model=model.name,
        version=model.version,
        method=method,
        items=items,
        evaluations=runner.rows - compare_rows,
        calls=runner.calls,
        time_ms=(time.perf_counter() - started) * 1000,
        seed=options.seed,
        partial=partial,
        runtime=model.info.summary(),
    )


def faithfulness_scores(
    runner: Runner,
    subject: Subject,
    targets: Sequence[Target],
    attributions: Sequence[np.ndarray],
    values: Sequence[np.ndarray],
) -> list[dict[str, float]]:
    """Both curves of every item in one call (or cap-sized calls)."""
    points = subject.points
    masks = [faithfulness.curve_masks(a, float(v[0] - v[1]), points) for a, v in zip(attributions, values)]
    blocks = [subject.feeds(i, m) for i, m in enumerate(masks) if len(m)]
    outputs = runner.run(blocks) if blocks else {}
    scores, start = [], 0
    for i, m in enumerate(masks):
        stop = start + len(m)
        curve = targets[i].values(rows_of(outputs, start, stop)) if len(m) else np.zeros(0)
        scores.append(faithfulness.score(curve, float(values[i][0]), float(values[i][1]), subject.items[i].n, points))
        start = stop
    return scores
