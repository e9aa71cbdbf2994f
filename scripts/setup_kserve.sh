#!/usr/bin/env bash
# KServe's Python client in its own virtualenv, .venvs/kserve, for tests/sdk/serving/test_kserve_client.py: KServe
# pins its own dependencies (psutil<6, starlette, ...) against ours, so it never goes into .venv. Idempotent (a stamp
# records the version); ~40 s and ~450 MB the first time. Usage: scripts/setup_kserve.sh [VERSION]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${1:-0.21.0}"
venv="$root/.venvs/kserve"
stamp="$venv/.aiaas-kserve"
if [ -f "$stamp" ] && grep -qx "kserve==$version" "$stamp"; then
  exit 0
fi
python="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip --disable-pip-version-check -q install "kserve==$version" 2> >(grep -v "^WARNING: Location '" >&2)
"$venv/bin/python" -c "import kserve, numpy" && echo "kserve==$version" > "$stamp"
