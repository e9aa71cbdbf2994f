"""The public surface and the weight of `import sdk`."""

from __future__ import annotations

import json
import subprocess
import sys

import sdk
from tests.partial_install import need

HEAVY = (
    "onnxruntime",
    "torch",
    "tensorflow",
    "tensorrt",
    "boto3",
    "botocore",
    "onnx",
    "sklearn",
    "rich",
    "typer",
    "openvino",
    "nncf",
    "cryptography",
    "tokenizers",  # the text processor's, on the first text call
    "PIL",  # the image processor's, on the first image call
)


def test_public_api_is_pinned() -> None:
    assert sorted(sdk.__all__) == sorted(
        [
            "AiaasError",
            "AsyncClient",
            "Client",
            "ClientConfig",
            "Decision",
            "Mode",
            "Privacy",
            "Reason",
            "Result",
            "Route",
            "CloudBadResponse",
            "CloudUnavailable",
            "ConfigError",
            "DeadlineExceeded",
            "IntegrityError",
            "InvalidInput",
            "LoadedModel",
            "LocalUnavailable",
            "MalformedRequest",
            "Manifest",
            "ManifestError",
            "MissingDependency",
            "ModelNotFound",
            "Overloaded",
            "ParityFailure",
            "PayloadTooLarge",
            "PrivacyViolation",
            "RuntimeConfig",
            "RuntimeFault",
            "StoreConfig",
            "TensorSpec",
            "Unauthorized",
            "__version__",
            "adapt",
            "load",
        ]
    )
    for name in sdk.__all__:
        assert hasattr(sdk, name), name


def test_import_sdk_loads_no_heavy_module() -> None:
    code = f"import sys, json; import sdk; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_loading_a_model_is_what_imports_onnxruntime() -> None:
    need("onnxruntime")  # in the child process
    code = (
        "import sys; import sdk; assert 'onnxruntime' not in sys.modules; "
        "sdk.load('digits-cnn'); print('onnxruntime' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_missing_edge_extra_names_the_pip_install() -> None:
    # Hide onnxruntime from the import system in a fresh interpreter, as on a client-only install.
    code = (
        "import sys; sys.modules['onnxruntime'] = None; import sdk\n"
        "try:\n    sdk.load('digits-cnn')\n"
        "except sdk.MissingDependency as e:\n    print(e.hint)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'pip install "aiaas-sdk[edge]"'
