#!/usr/bin/env bash
# Set up (idempotently) and run the offline end-to-end demo: compile with the parity gate, a local AWS stand-in
# (moto) with `terraform apply`, `sdk deploy`, `sdk serve` as the function, `sdk models pull` to the edge, then calls
# routed by privacy, latency, availability and deadline, each decision printed. No cloud account, no network.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$(bash scripts/setup.sh demo)"
exec "$venv/bin/sdk" demo "$@"
