#!/usr/bin/env bash
# Create BentoML's own virtualenv for benchmarks/bentoml_compare.py, apart from the project's .venv so that
# bentoml's dependencies never touch constraints.txt. Usage: benchmarks/setup_bentoml.sh [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-1.4.40}"
VENV=.venvs/bentoml
PY="${PYTHON:-python3.11}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
# onnxruntime and tokenizers serve the same ONNX files and tokenize the same way as `sdk serve`.
"$VENV/bin/pip" install -q "bentoml==${VERSION}" onnxruntime tokenizers numpy
"$VENV/bin/python" -c "import bentoml, onnxruntime; print('bentoml', bentoml.__version__, 'onnxruntime', onnxruntime.__version__)"
