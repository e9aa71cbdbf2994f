"""Explanations: which units of an input (pixels or patches, words, lags) made the model answer as it did, computed
on the very artifact and runtime that serve it, with a faithfulness score measured on the same explanation.

    from sdk.explain import explain, ExplainOptions
    result = explain(model, png_bytes, ExplainOptions(method="kernel_shap", max_evals=256))
    result.items[0].units, result.items[0].attributions, result.items[0].faithfulness

Model-agnostic: every method needs only the runtime's forward pass (fp32, int8, OpenVINO, a TensorRT engine alike),
over a mask matrix of units batched into at most ``max_calls`` runtime calls of at most ``max_evals`` rows per item.
Units and removal: ``sdk.explain.units`` and ``text_units``; methods: ``methods`` and ``kernel_shap``; the explained
scalar: ``scalar``; the faithfulness metric: ``faithfulness``; calls and the deadline: ``core`` and ``batching``.

What "auto" runs (``AUTO``), chosen by measurement at the default budget (256 rows, seed 0), 2-core AMD EPYC:

- image, kernel_shap. Digits CNN, the first 100 held-out test digits, mean deletion / insertion AUC (lower / higher
  is better): kernel_shap -0.060 / 0.932, occlusion -0.058 / 0.890, rise -0.047 / 0.859; 20 random attributions per
  digit 0.495 / 0.500.
- text, occlusion. MiniLM fp32, 30 held-out sentences, cosine to the sentence itself and to its first five words:
  the drop when deleting the top 3 words vs 3 random words: occlusion 0.094 vs 0.062 (self), 0.059 vs -0.030
  (prefix); kernel_shap (128 rows) 0.084 vs 0.062 and 0.023 vs -0.030, at about 4x the rows.
- series, occlusion. Sunspots LSTM (a tiny-epoch training), the 62 held-out windows: removing the top 3 lags moves
  the forecast 2.16x as much as 3 random lags with occlusion, 1.46x with kernel_shap; deletion AUC -0.006 for both.
"""

from __future__ import annotations

from sdk.explain.batching import CountingForward
from sdk.explain.core import AUTO, explain, score_attributions
from sdk.explain.options import METHODS, ExplainOptions
from sdk.explain.result import Explanation, ItemExplanation

__all__ = [
    "AUTO",
    "METHODS",
    "CountingForward",
    "ExplainOptions",
    "Explanation",
    "ItemExplanation",
    "explain",
    "score_attributions",
]
