"""Run by tests/sdk/serving/test_kserve_client.py on the kserve venv's Python (scripts/setup_kserve.sh makes it):
KServe's own client (``kserve.InferenceRESTClient``, protocol v2) against a running `sdk serve`. Prints one JSON line
per case: its outputs as lists, or the HTTP status and message it raised. Never imported by the suite itself."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

URL = sys.argv[1]
DIGIT = np.full((2, 1, 8, 8), 0.5, dtype=np.float32)
TEXTS = [b"the cat sat", b"a mat on the mat"]


def say(case: str, **fields: Any) -> None:
    print(json.dumps({"case": case, **fields}), flush=True)


def outputs(response: Any) -> dict[str, Any]:
    return {
        o.name: {"shape": list(o.shape), "datatype": o.datatype, "data": o.as_numpy().tolist()}
        for o in response.outputs
    }


async def attempt(case: str, call: Any) -> None:
    try:
        response = await call
    except Exception as exc:  # what the client raised: an HTTPStatusError carries the status
        status = getattr(getattr(exc, "response", None), "status_code", None)
        say(case, error=type(exc).__name__, status=status, message=str(exc))
        return
    if isinstance(response, bool):
        say(case, value=response)
    else:
        say(case, id=response.id, model=response.model_name, outputs=outputs(response))


async def main() -> None:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    await attempt("live", client.is_server_live(URL))
    await attempt("ready", client.is_server_ready(URL))
    await attempt("model ready", client.is_model_ready(URL, "digits-cnn"))
    await attempt("unknown model ready", client.is_model_ready(URL, "no-such-model"))
    for binary in (False, True):
        image = InferInput(name="image", shape=list(DIGIT.shape), datatype="FP32")
        image.set_data_from_numpy(DIGIT, binary_data=binary)
        request = InferRequest(model_name="digits-cnn", infer_inputs=[image], request_id=f"kserve-{binary}")
        await attempt(f"digits binary={binary}", client.infer(URL, request, model_name="digits-cnn"))
        for binary_out in (False, True):
            wanted = [RequestedOutput(name="probabilities", parameters={"binary_data": binary_out})]
            request = InferRequest(model_name="digits-cnn", infer_inputs=[image], request_outputs=wanted)
            case = f"digits binary={binary} probabilities binary={binary_out}"
            await attempt(case, client.infer(URL, request, model_name="digits-cnn"))
        text = InferInput(name="text", shape=[len(TEXTS)], datatype="BYTES")
        text.set_data_from_numpy(np.array(TEXTS, dtype=np.object_), binary_data=binary)
        request = InferRequest(model_name="tiny-text", infer_inputs=[text])
        await attempt(f"text binary={binary}", client.infer(URL, request, model_name="tiny-text"))
    plain = {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 64}]}
    await attempt("digits as a dict", client.infer(URL, plain, model_name="digits-cnn"))
    narrow = InferInput(name="image", shape=[1, 1, 8, 7], datatype="FP32")
    narrow.set_data_from_numpy(np.zeros((1, 1, 8, 7), np.float32))
    await attempt("bad shape", client.infer(URL, InferRequest("digits-cnn", [narrow]), model_name="digits-cnn"))
    await attempt("unknown model", client.infer(URL, InferRequest("resnet", [narrow]), model_name="resnet"))
    wide = InferInput(name="image", shape=[1, 1, 8, 8], datatype="FP64")
    wide.set_data_from_numpy(np.zeros((1, 1, 8, 8), np.float64), binary_data=True)
    request = InferRequest(model_name="digits-cnn", infer_inputs=[wide])
    await attempt("wrong datatype", client.infer(URL, request, model_name="digits-cnn"))
    await client.close()


asyncio.run(main())
