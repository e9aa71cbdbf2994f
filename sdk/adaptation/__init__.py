"""Adaptation (``sdk adapt``): a base artifact carried into a new task with a few labelled examples, on this device.

``adapt(base, data, out)`` (also ``sdk.adapt``) fits a head on the base's features (head mode: numpy and the edge
runtime only) and writes an artifact that reuses the base's files byte for byte and adds ``head.onnx`` (the delta),
gated on parity through ``sdk.load``. See ``sdk.adaptation.core`` for the flow, ``sdk.adaptation.data`` for the data
files it reads. The package is not named ``adapt``: importing it would rebind ``sdk.adapt`` from the function to it.
"""

from sdk.adaptation.core import AdaptResult, adapt

__all__ = ["AdaptResult", "adapt"]
