#!/usr/bin/env bash
# Set up (idempotently) and run the whole test suite: lint, then every tier that can run on this machine.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not infra"` or `scripts/test.sh tests/sdk`.
# Against today's newest releases instead of constraints.txt: `AIAAS_DEPS=latest bash scripts/test.sh`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$(bash scripts/setup.sh test)"
echo "== ruff" >&2
"$venv/bin/ruff" check sdk models tests benchmarks functions scripts
echo "== mypy" >&2
"$venv/bin/mypy" sdk
echo "== pytest" >&2
# pytest exits 5 when it collected no test: that is a failure here, as any non-zero status is.
exec "$venv/bin/python" -m pytest "$@"
