"""Compile source models into verified artifacts: export to ONNX, check parity against the source, package.

Heavy frameworks (torch, onnx, tensorflow) load inside the functions that need them, never at ``import sdk.compile``.
Recipes (``models/<package>/recipe.py``) build a ``Recipe``; `sdk compile` turns any source into a ``CompileSource``
and runs ``compile_source``.
"""

from sdk.compile.gates import QualityResult, check_quality
from sdk.compile.package import ArtifactWriter
from sdk.compile.parity import ParityResult, check_parity
from sdk.compile.pipeline import CompileResult, compile_source
from sdk.compile.progress import Progress
from sdk.compile.recipe import (
    Evaluation,
    ModelSpec,
    QualityGate,
    RawEvaluation,
    Recipe,
    Trained,
    TransformerFusion,
    load_recipe,
)
from sdk.compile.sources import CompileSource, from_recipe, resolve_source

__all__ = [
    "ArtifactWriter",
    "CompileResult",
    "CompileSource",
    "Evaluation",
    "ModelSpec",
    "ParityResult",
    "Progress",
    "QualityGate",
    "QualityResult",
    "RawEvaluation",
    "Recipe",
    "Trained",
    "TransformerFusion",
    "check_parity",
    "check_quality",
    "compile_source",
    "from_recipe",
    "load_recipe",
    "resolve_source",
]
