"""The cloud route: an Open Inference Protocol v2 endpoint (`sdk serve`, a Lambda function URL, a SageMaker
endpoint, Triton/KServe), over one pooled httpx client, with retries inside the call's budget and a circuit breaker.
Retries hand-written on purpose, not tenacity or stamina: the loop shares the call's deadline budget with the breaker
and the fallback, and the core install stays httpx + numpy + typer.

Retries: connect errors, 429 and 503 only (a 500 is a real fault and falls back at once), with exponential backoff
and full jitter, honouring Retry-After, never past the call's time budget.

What an answer means: a 2xx whose body parses is a success; a 2xx that does not parse (an HTML login page, a proxy's
empty 200, metadata that is not an object), a redirect, or a status no OIP server sends is ``CloudBadResponse``: the
endpoint's fault, counted by the breaker, and a public call falls back. A protocol 4xx is about the request and is
raised as the caller's error (the endpoint itself is healthy), as the exact class the server names in the body's
``code`` (an ``IntegrityError`` in the cloud arrives as one), else as the class its status maps to.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import numpy as np

from sdk.artifacts.store import ModelRef
from sdk.client import raw, wire
from sdk.client.answers import LeanCookies, read_framing, server_ms
from sdk.client.auth import Bearer, SigV4
from sdk.client.breaker import BreakerPolicy, CircuitBreaker
from sdk.client.config import ClientConfig
from sdk.errors import (
    AiaasError,
    CloudBadResponse,
    CloudUnavailable,
    ConfigError,
    DeadlineExceeded,
    InvalidInput,
    Overloaded,
    ResponseTooLarge,
    error_for_status,
)
from sdk.protocol.codec import decode_response, encode_request
from sdk.protocol.framing import HEADER_LENGTH, JSON_HEADER_SIZE, sagemaker_framing
from sdk.protocol.plain import plain_request, plain_response
from sdk.runtime.processors import Processed

RETRY_STATUSES = (429, 503)
# The 4xx statuses an OIP server (ours, KServe, Triton, AWS front doors) answers about a request; others mean the URL
# does not lead to one (405 from a static site, 418, ...).
PROTOCOL_4XX = (400, 401, 403, 404, 413, 415, 422, 429)
T = TypeVar("T")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class CloudRoute:
    def __init__(self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        assert config.cloud_url is not None
        self.config = config
        self.base_url = config.cloud_url
        self.breaker = CircuitBreaker(
            BreakerPolicy(
                failure_threshold=config.breaker_failures,
                cooldown_s=config.breaker_cooldown_s,
                max_cooldown_s=max(60.0, config.breaker_cooldown_s),
            )
        )
        self._rng = random.Random()
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}  # model -> (monotonic time read, document)
        self._server: tuple[float, frozenset[str]] | None = None  # (monotonic time read, GET /v2's extensions)
        self._paths: dict[str, str] = {}
        self._urls: dict[str, httpx.URL] = {}  # path -> absolute URL: httpx parses and merges a relative one per call
        self._lock = threading.Lock()
        auth: httpx.Auth | None = None
        kind = config.auth_kind
        if kind == "sigv4":
            service = "sagemaker" if config.endpoint_kind == "sagemaker" else "lambda"
            auth = SigV4(service, config.region or "")
        elif kind == "bearer":
            if not config.token:
                raise ConfigError("auth bearer needs a token", hint="set AIAAS_AUTH_TOKEN or pass token=...")
            auth = Bearer(config.token)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30),
            transport=transport,
            headers={"user-agent": "aiaas-sdk"},
        )
        self._http._cookies = LeanCookies()  # httpx's own jar (an empty one), read only when an answer sets a cookie

    # --- paths -------------------------------------------------------------------------------------------------

    def model_path(self, model: str) -> str:
        """``/v2/models/NAME`` (``/versions/V`` for a numbered version): where the model's routes start."""
        return self._model_path(ModelRef.parse(model))

    def _model_path(self, ref: ModelRef) -> str:
        path = f"/v2/models/{quote(ref.name, safe='')}"
        if ref.ref and ref.ref[0].isdigit():
            path += f"/versions/{quote(ref.ref, safe='')}"
        return path

    def _infer_path(self, model: str) -> str:
        path = self._paths.get(model)
        if path is None:
            ref = ModelRef.parse(model)
            path = "/invocations" if self.config.endpoint_kind == "sagemaker" else self._model_path(ref) + "/infer"
            self._paths[model] = path
        return path

    # --- metadata: input names and dtypes for bare arrays and JSON lists ------------------------------------

    def metadata(self, model: str) -> dict[str, Any]:
        """The model's metadata document, read again once it is older than ``metadata_ttl_s``: a model redeployed
        with a private floor stops getting data from long-lived clients within that time."""
        with self._lock:
            cached = self._metadata.get(model)
            if cached is not None and time.monotonic() - cached[0] < self.config.metadata_ttl_s:
                return cached[1]
        if self.config.endpoint_kind == "sagemaker":
            raise InvalidInput(
                f"a SageMaker endpoint publishes no model metadata: pass {model}'s inputs as a dict name -> numpy array"
            )
        ref = ModelRef.parse(model)
        deadline = time.monotonic() + self.config.timeout_s
        data = self._with_retries(
            self._model_path(ref), b"", {}, deadline, False, read=self._metadata_document, method="GET"
        )
        with self._lock:
            self._metadata[model] = (time.monotonic(), data)
        return data

    def extensions(self) -> frozenset[str]:
        """The protocol extensions the server claims (``GET /v2``'s ``extensions``), read again after
        ``metadata_ttl_s``. A SageMaker endpoint has no such route: none."""
        if self.config.endpoint_kind == "sagemaker":
            return frozenset()
        with self._lock:
            if self._server is not None and time.monotonic() - self._server[0] < self.config.metadata_ttl_s:
                return self._server[1]
        deadline = time.monotonic() + self.config.timeout_s
        claimed = self._with_retries("/v2", b"", {}, deadline, False, read=self._extensions, method="GET")
        with self._lock:
            self._server = (time.monotonic(), claimed)
        return claimed

    def _extensions(self, response: httpx.Response) -> frozenset[str]:
        try:
            data = response.json()
        except ValueError as exc:
            raise self.bad(response, f"its server metadata is not JSON ({exc})") from exc
        listed = data.get("extensions", []) if isinstance(data, dict) else None
        if not isinstance(listed, list) or not all(isinstance(e, str) for e in listed):
            raise self.bad(response, "its server metadata's 'extensions' is not a list of names")
        return frozenset(listed)

    def _metadata_document(self, response: httpx.Response) -> dict[str, Any]:
        """The body of a 2xx metadata answer, checked for the shape the client reads (inputs, parameters)."""
        try:
            data = response.json()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
            raise self.bad(response, f"its model metadata is not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise self.bad(response, f"its model metadata is a JSON {type(data).__name__}, not an object")
        inputs = data.get("inputs", [])
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and isinstance(i.get("name"), str) and isinstance(i.get("datatype"), str)
            for i in inputs
        ):
            raise self.bad(response, "its model metadata's 'inputs' is not a list of {name, datatype, ...} objects")
        if data.get("parameters") is not None and not isinstance(data["parameters"], dict):
            raise self.bad(response, "its model metadata's 'parameters' is not an object")
        return data

    def bad(self, response: httpx.Response, what: str) -> CloudBadResponse:
        """The error for a 2xx answer that is not what the endpoint should have sent: the endpoint's fault."""
        return CloudBadResponse(
            f"{self.base_url} answered HTTP {response.status_code}, but {what}",
            hint="check that the endpoint URL leads to an inference server (sdk serve, a function URL, Triton...)",
        )

    # --- the call ----------------------------------------------------------------------------------------------

    def infer(
        self, model: str, inputs: Any, *, timeout_s: float, caller_deadline: bool = False
    ) -> tuple[dict[str, np.ndarray] | Processed, dict[str, float]]:
        """Send one inference request. ``caller_deadline``: the budget is the caller's deadline, so running out of
        it says nothing about the endpoint's health and does not count against its circuit. Raw inputs (text,
        images) go as one BYTES tensor and come back processed by the server: a ``Processed``."""
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        processed = raw.is_raw(inputs)
        if processed:
            arrays, binary = wire.raw_arrays(self, model, inputs)
        else:
            arrays = wire.named_arrays(self, model, inputs)
            binary = sum(a.nbytes for a in arrays.values()) >= self.config.binary_threshold_bytes
        plain = None if processed else plain_request(arrays, binary=binary)
        body, headers = plain if plain is not None else encode_request(arrays, binary=binary)
        headers = self._framed(model, headers)
        encoded = time.perf_counter()
        path = self._infer_path(model)
        received = encoded

        def read(response: httpx.Response) -> tuple[dict[str, np.ndarray], dict[str, Any], str | None]:
            nonlocal received
            received = time.perf_counter()
            return self._outputs(response)

        try:
            outputs, meta, server_timing = self._with_retries(path, body, headers, deadline, caller_deadline, read=read)
        except ResponseTooLarge:
            if binary:  # the answer was binary already: nothing smaller to ask for
                raise
            # JSON numbers take ~3x the bytes of binary ones (a Lambda's 6 MB answer limit): once more, outputs binary.
            body, headers = encode_request(arrays, binary=False, parameters={"binary_data_output": True})
            headers = self._framed(model, headers)
            outputs, meta, server_timing = self._with_retries(path, body, headers, deadline, caller_deadline, read=read)
        answer = raw.from_response(outputs, meta["parameters"]) if processed else outputs
        done = time.perf_counter()
        round_trip = (received - encoded) * 1000
        timings = {
            "encode": (encoded - start) * 1000,
            "round_trip": round_trip,
            "decode": (done - received) * 1000,
            "total_cloud": (done - start) * 1000,
        }
        server = server_ms(server_timing) if server_timing else None
        if server is not None:
            timings["server"] = server
            timings["network"] = max(0.0, round_trip - server)
        return answer, timings

    def _framed(self, model: str, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` as the endpoint takes them: InvokeEndpoint drops Inference-Header-Content-Length, so for a
        SageMaker endpoint binary framing rides in the content type (Triton's SageMaker convention; decode_response
        reads the answer's from there too) and the model is named in the custom attributes."""
        if self.config.endpoint_kind != "sagemaker":
            return headers
        headers = sagemaker_framing(headers)
        headers["X-Amzn-SageMaker-Custom-Attributes"] = f"model={ModelRef.parse(model).name}"
        return headers

    def _outputs(self, response: httpx.Response) -> tuple[dict[str, np.ndarray], dict[str, Any], str | None]:
        """The outputs of a 2xx inference answer, and its Server-Timing header. Whatever the codec refuses in it is
        the endpoint's fault, not the caller's: the codec speaks of a bad *request* (MalformedRequest), which here
        would blame the wrong side."""
        framing, server_timing = read_framing(response)
        body = response.content
        # SageMaker's framing (the JSON length in the content type) takes the general path, as does anything unusual.
        sagemaker = JSON_HEADER_SIZE in framing.get("content-type", "").lower()
        plain = None if sagemaker else plain_response(body, framing.get(HEADER_LENGTH))
        if plain is not None:
            outputs, meta = plain
        else:
            try:
                outputs, meta = decode_response(body, framing, status=response.status_code)
            except AiaasError as exc:
                raise self.bad(response, f"its body is not an inference response: {exc.message}") from exc
        if not isinstance(meta["parameters"], dict):
            raise self.bad(response, "its 'parameters' is not an object")
        return outputs, meta, server_timing

    def _with_retries(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        deadline: float,
        caller_deadline: bool,
        *,
        read: Callable[[httpx.Response], T],
        method: str = "POST",
    ) -> T:
        """``read`` turns a 2xx answer into the result; the breaker hears of the attempt only once that is known, so
        an answer that does not parse counts as the failure it is."""
        attempts = self.config.max_attempts
        for attempt in range(attempts):
            if not self.breaker.allow():
                raise CloudUnavailable(f"circuit open for {self.base_url}; retrying in {self.breaker.retry_in():.1f} s")
            try:
                response = self._send(method, path, body, headers, deadline)
            except CloudUnavailable:
                self.breaker.record_failure()
                if attempt + 1 < attempts and self._sleep(attempt, None, deadline):
                    continue
                raise
            except DeadlineExceeded:
                if caller_deadline:
                    self.breaker.release()
                else:
                    self.breaker.record_failure()
                raise
            status = response.status_code
            if 200 <= status < 300:
                try:
                    result = read(response)
                except CloudBadResponse:
                    self.breaker.record_failure()
                    raise
                except BaseException:
                    self.breaker.release()  # not a verdict on the endpoint, but a half-open probe must end
                    raise
                self.breaker.record_success()
                return result
            if status in PROTOCOL_4XX and status != 429:
                self.breaker.record_success()  # the endpoint answered; a 4xx is about the request
                # Our servers name the exact class ({"error": ..., "code": ...}); others get the status's class.
                raise error_for_status(status, _error_text(response, limit=2000), code=_error_code(response))
            self.breaker.record_failure()
            if status < 500 and status != 429:
                raise self._unexpected_status(response)
            retryable = response.status_code in RETRY_STATUSES and attempt + 1 < attempts
            if retryable and self._sleep(attempt, _retry_after(response), deadline):
                continue
            if response.status_code in RETRY_STATUSES:
                raise Overloaded(
                    f"{self.base_url} is overloaded (HTTP {response.status_code}): {_error_text(response)}",
                    retry_after=_retry_after(response) or 1.0,
                )
            raise CloudUnavailable(f"{self.base_url} failed with HTTP {response.status_code}: {_error_text(response)}")
        raise CloudUnavailable(f"{self.base_url}: no attempt left")  # pragma: no cover - the loop always returns

    def post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        *,
        timeout_s: float,
        caller_deadline: bool,
        read: Callable[[httpx.Response], T],
    ) -> T:
        """POST ``body`` to ``path`` with the retries, the budget and the breaker of an inference request; ``read``
        turns the 2xx answer into the result (raising ``bad`` when it cannot)."""
        return self._with_retries(path, body, headers, time.monotonic() + timeout_s, caller_deadline, read=read)

    def _unexpected_status(self, response: httpx.Response) -> CloudBadResponse:
        status = response.status_code
        if 300 <= status < 400:
            where = response.headers.get("location")
            return CloudBadResponse(
                f"{self.base_url} answered HTTP {status}, a redirect{f' to {where}' if where else ''}: an inference "
                "endpoint answers directly, and the client does not follow redirects (a signed request would not "
                "survive one)",
                hint="set the endpoint to the URL the service really answers on (https, no trailing path)",
            )
        if status == 424:  # SageMaker's ModelError: the container behind the endpoint failed or refused
            return CloudBadResponse(
                f"{self.base_url} answered HTTP 424 (the model container failed): {_error_text(response)}",
                hint="see the endpoint's CloudWatch logs (/aws/sagemaker/Endpoints/NAME)",
            )
        return CloudBadResponse(
            f"{self.base_url} answered HTTP {status}, which is no Open Inference Protocol answer: "
            f"{_error_text(response)}",
            hint="check that the endpoint URL leads to an inference server (sdk serve, a function URL, Triton...)",
        )

    def _sleep(self, attempt: int, retry_after: float | None, deadline: float) -> bool:
        """Wait before the next attempt; False when the wait would not fit in the call's budget."""
        backoff = self._rng.uniform(0, min(2.0, 0.05 * 2**attempt))
        wait = max(backoff, retry_after or 0.0)
        if time.monotonic() + wait >= deadline:
            return False
        time.sleep(wait)
        return True

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str], deadline: float) -> httpx.Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(f"no time left for a call to {self.base_url}")
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if remaining < self.config.timeout_s * 0.99:  # a shorter budget than the client's default: enforce it
            timeout = httpx.Timeout(remaining, connect=min(remaining, self.config.connect_timeout_s))
        url = self._urls.get(path)
        if url is None:  # as httpx merges a path with base_url (which it keeps ending in '/'), once per path
            base = self._http.base_url
            url = base.copy_with(raw_path=base.raw_path + httpx.URL(path).raw_path.lstrip(b"/"))
            if len(self._urls) < 1024:
                self._urls[path] = url
        try:
            return self._http.request(method, url, content=body or None, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                raise CloudUnavailable(f"connecting to {self.base_url} timed out") from exc
            raise DeadlineExceeded(f"{self.base_url} did not answer within {remaining:.2f} s") from exc
        except httpx.TransportError as exc:
            raise CloudUnavailable(f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._http.close()


def _error_code(response: httpx.Response) -> object:
    """The ``code`` beside the message in an error body (our servers send one), or None."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get("code") if isinstance(data, dict) else None


def _error_text(response: httpx.Response, *, limit: int = 200) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:limit] or response.reason_phrase
    if isinstance(data, dict):  # ours and KServe: {"error": ...}; AWS front doors: {"Message": ...}
        return str(data.get("error") or data.get("message") or data.get("Message") or data)[:limit]
    return str(data)[:limit]
