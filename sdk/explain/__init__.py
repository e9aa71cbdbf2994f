"""Explanations: which units of an input (pixels or patches, words, lags) made the model answer as it did, computed
on the very artifact and runtime that serve it, with a faithfulness score measured on the same explanation.

    from sdk.explain import explain, ExplainOptions
    result = explain(model, png_bytes, ExplainOptions(method="kernel_shap", max_evals=256))
    result.items[0].units, result.items[0].attributions, result.items[0].faithfulness

Model-agnostic: every method needs only the runtime's forward pass (fp32, int8, OpenVINO, a TensorRT engine alike),
over a mask matrix of units batched into at most ``max_calls`` runtime calls of at most ``max_evals`` rows per item.
Units and removal: ``sdk.explain.units`` and ``text_units``; methods: ``methods`` and ``kernel_shap``; the explained
scalar: ``scalar``; the faithfulness metric: ``faithfulness``; calls and the deadline: ``core`` and ``batching``;
scoring any mask matrix on the same terms (``Scorer``, ``score_masks``, ``score_attributions``): ``scoring``.

What "auto" runs (``AUTO``), chosen by measurement at the default budget (256 rows, seed 0) with
benchmarks/explain_quality.py (2-core AMD EPYC, one run, 2026-11-30; removal as ``units`` and ``text_units`` say):

- image, kernel_shap. Digits CNN, the first 100 held-out test digits, mean deletion / insertion AUC (lower / higher
  is better, clipped curves): kernel_shap 0.064 / 0.915, occlusion 0.063 / 0.876, rise 0.070 / 0.858; 20 random
  attributions per digit 0.513 / 0.515. Occlusion ties on deletion, kernel_shap leads on insertion.
- text, occlusion. MiniLM fp32, 40 held-out sentences each compared with its nearest neighbour: deleting the top 3
  words lowers the pair's cosine 8.05x as much as 3 random words with occlusion (words + 2 rows, 8 for the curves),
  8.14x with kernel_shap (256 rows): a tie at about a quarter of the rows, which keeps a 64-token explanation near
  0.5 s (fp32, quiet machine) here.
- series, occlusion. Sunspots LSTM (30 epochs), the 62 held-out windows, a removed lag at the window's mean: removing
  the top 3 lags moves the forecast 2.31x as much as 3 random lags with occlusion (22 rows, and 18 for the curves),
  2.28x with kernel_shap (256 rows).
"""

from __future__ import annotations

from sdk.explain.batching import CountingForward
from sdk.explain.core import AUTO, explain
from sdk.explain.options import METHODS, ExplainOptions
from sdk.explain.result import Explanation, ItemExplanation
from sdk.explain.scoring import Scorer, score_attributions, score_masks

__all__ = [
    "AUTO",
    "METHODS",
    "CountingForward",
    "ExplainOptions",
    "Explanation",
    "ItemExplanation",
    "Scorer",
    "explain",
    "score_attributions",
    "score_masks",
]
