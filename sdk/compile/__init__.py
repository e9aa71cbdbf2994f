"""Compile source models into verified artifacts: export to ONNX, check parity against the source, package.

Heavy frameworks (torch, onnx) load inside the functions that need them, never at ``import sdk.compile``.
"""

from sdk.compile.package import ArtifactWriter
from sdk.compile.parity import ParityResult, check_parity

__all__ = ["ArtifactWriter", "ParityResult", "check_parity"]
