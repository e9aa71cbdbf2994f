"""The serving core: the Open Inference Protocol (KServe v2) spoken by `sdk serve` and the functions."""
