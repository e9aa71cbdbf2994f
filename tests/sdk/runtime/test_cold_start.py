"""What a fresh process pays before its first answer (#20): `import sdk` imports none of its parts, loading a model
imports neither the client nor the signing code, a CPU-only load spawns no subprocess (a GPU probe through
``ctypes.util.find_library`` cost ~80 ms of every start), and model bytes read while the engine imports are still
verified before the engine sees them. Each check runs in a fresh interpreter: only there are these imports cold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import sdk
from tests.partial_install import need


def fresh(code: str, **env: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON line."""
    import os

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_sdk_imports_none_of_its_parts_and_names_resolve_on_use() -> None:
    seen = fresh(
        "import sys, json; import sdk; before = sorted(m for m in sys.modules if m.startswith(('sdk.', 'numpy')))\n"
        "sdk.RuntimeConfig; after_config = 'numpy' in sys.modules\n"
        "print(json.dumps({'before': before, 'numpy_after_config': after_config, 'has_load': callable(sdk.load)}))"
    )
    assert seen["before"] == ["sdk._version"]
    assert seen["numpy_after_config"] is False  # the runtime's settings need no numpy
    assert seen["has_load"] is True
    assert set(sdk.__all__) <= set(dir(sdk))
    with pytest.raises(AttributeError, match="module 'sdk' has no attribute 'nothing'"):
        _ = sdk.nothing


def test_loading_a_model_imports_no_client_no_signing_and_spawns_no_subprocess() -> None:
    code = (
        "import sys, json, subprocess\n"
        "spawned = []\n"
        "real = subprocess.Popen.__init__\n"
        "def record(self, args, *a, **k):\n"
        "    spawned.append(str(args)); real(self, args, *a, **k)\n"
        "subprocess.Popen.__init__ = record\n"
        "import sdk\n"
        "model = sdk.load('digits-cnn')\n"
        "model(model.example_inputs())\n"
        "loaded = [m for m in ('sdk.client', 'asyncio', 'httpx', 'sdk.artifacts.signing', 'importlib.metadata')"
        " if m in sys.modules]\n"
        "print(json.dumps({'spawned': spawned, 'loaded': loaded}))"
    )
    seen = fresh(code)
    assert seen == {"spawned": [], "loaded": []}


def test_tampered_bytes_read_while_the_engine_imports_are_refused(artifact_copy: Path) -> None:
    need("onnxruntime")  # in the child process
    path = artifact_copy / "model.onnx"
    data = bytearray(path.read_bytes())
    data[-50] ^= 0xFF
    path.write_bytes(bytes(data))
    code = (
        "import sys, json, sdk\n"
        "try:\n"
        f"    sdk.load({str(artifact_copy)!r})\n"
        "except sdk.IntegrityError as exc:\n"
        "    print(json.dumps({'error': exc.message, 'engine_imported': 'onnxruntime' in sys.modules}))\n"
    )
    seen = fresh(code)
    assert "model.onnx failed its sha256 check" in seen["error"]
    assert seen["engine_imported"] is True  # the engine was imported meanwhile; it never saw the bytes


def test_tampered_bytes_win_over_a_missing_engine(artifact_copy: Path) -> None:
    path = artifact_copy / "model.onnx"
    path.write_bytes(path.read_bytes()[:-10])
    code = (
        "import sys, json\n"
        "tried = []\n"
        "class Uninstalled:\n"  # as if the edge extra were missing, and onnxruntime not yet imported
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'onnxruntime':\n"
        "            tried.append(name)\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Uninstalled())\n"
        "import sdk\n"
        "try:\n"
        f"    sdk.load({str(artifact_copy)!r})\n"
        "except sdk.AiaasError as exc:\n"
        "    print(json.dumps({'kind': type(exc).__name__, 'error': exc.message, 'tried': bool(tried)}))\n"
    )
    seen = fresh(code)
    assert seen["tried"] is True  # the engine's import ran while the bytes were read and hashed
    assert seen["kind"] == "IntegrityError" and "model.onnx is truncated" in seen["error"]
