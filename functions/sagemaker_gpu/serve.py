"""SageMaker real-time endpoint container entry: `serve` starts the OIP server on port 8080 (the container contract).

SageMaker runs the image as ``docker run IMAGE serve`` and calls ``GET /ping`` and ``POST /invocations`` (an OIP
inference request; the model is chosen by ``X-Amzn-SageMaker-Target-Model``, else the only one); the ``/v2`` routes
answer too. SageMaker passes no Inference-Header-Content-Length, so binary tensors carry their JSON length in the
content type (``application/vnd.sagemaker-triton.binary+json;json-header-size=N``), both ways. Models come from
``MODEL_URI`` (s3:// or a path, verified into ``AIAAS_CACHE_DIR``), else from ``/opt/ml/model`` where SageMaker
unpacks ``model_data_url``. Execution providers default to ``auto``: TensorRT, then
CUDA, then CPU, as this GPU and the installed onnxruntime-gpu allow; what each session really uses is printed at start
(onnxruntime-gpu silently falls back to the CPU when CUDA libraries are missing).

Requests are batched dynamically (``AIAAS_MAX_BATCH_SIZE``, ``AIAAS_MAX_QUEUE_DELAY_MS``, ``AIAAS_MAX_QUEUE_SIZE``).
The server holds clients to the same limits as `sdk serve` (``ServeConfig``, from the environment): connections,
header bytes and lines, header and body timeouts, keep-alive, body bytes, rows and elements per request.
SageMaker authenticates callers (SigV4), so no bearer token is configured here. It is the same service as `sdk serve`:
``GET /metrics`` (Prometheus), ``GET /v2/openapi.json`` and the page answer on its port too (SageMaker's runtime API
forwards only /invocations and /ping; a sidecar or a debugging session on the host reaches the rest).
"""

from __future__ import annotations

import logging
import os
import sys

from sdk.serving import http
from sdk.serving.bootstrap import build_service

MODEL_DIR = "/opt/ml/model"
PORT = 8080


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] != "serve":
        print(f"unknown command {args[0]!r}: this container only runs `serve`", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    os.environ.setdefault("AIAAS_PROVIDERS", "auto")
    setting = "MODEL_URI" if os.environ.get("MODEL_URI") else "SM_MODEL_DIR"
    store = os.environ.get("MODEL_URI") or os.environ.get("SM_MODEL_DIR", MODEL_DIR)
    cache = os.environ.get("AIAAS_CACHE_DIR", "/tmp/aiaas")
    http.import_uvicorn()  # fail before loading models when the server stack is missing
    # A fixed store: an endpoint with no model must fail to start, not pass /ping and answer 404.
    service = build_service(store, include_builtin=False, cache_dir=cache, fixed=setting, require_model=True)
    for model in service.repository.loaded():
        print(f"{model.manifest.ref}: {model.info.summary()}", flush=True)
        for note in model.info.notes:
            print(f"  note: {note}", flush=True)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", PORT))
    http.run(service, host="0.0.0.0", port=port, on_ready=lambda url: print(f"serving at {url}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
