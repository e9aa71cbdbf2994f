#!/usr/bin/env bash
# Set up (idempotently) and run the offline demo: a prediction by ONNX Runtime from the shipped,
# hash-verified default model. Later steps of the demo (compile, deploy, routing) grow from here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh demo
sdk=.venv/bin/sdk
echo "== the models this machine has"
"$sdk" models list
echo "== a prediction on the edge runtime, from a held-out digit (true label: 7)"
"$sdk" predict digits-cnn --input models/digits_cnn/samples/digit_7.npy
