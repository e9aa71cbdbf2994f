"""Artifact folders (``manifest.json`` + files, each verified by sha256) and the stores that hold them."""

from sdk.artifacts.integrity import describe_file, read_verified, sha256_file, verify_artifact
from sdk.artifacts.manifest import (
    MANIFEST_FILE,
    ArtifactFile,
    ExtraFile,
    Manifest,
    Parity,
    Source,
    TensorSpec,
    read_manifest,
    write_manifest,
)
from sdk.artifacts.store import LayeredStore, LocalStore, ModelRef, Store, StoredModel, builtin_store, open_store

__all__ = [
    "MANIFEST_FILE",
    "ArtifactFile",
    "ExtraFile",
    "LayeredStore",
    "LocalStore",
    "Manifest",
    "ModelRef",
    "Parity",
    "Source",
    "Store",
    "StoredModel",
    "TensorSpec",
    "builtin_store",
    "describe_file",
    "open_store",
    "read_manifest",
    "read_verified",
    "sha256_file",
    "verify_artifact",
    "write_manifest",
]
