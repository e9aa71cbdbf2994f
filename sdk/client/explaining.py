"""``Client.explain`` on each route: on this device, ``sdk.explain`` over the loaded artifact (every perturbed input
stays here); in the cloud, ONE request to the endpoint's Open Inference Protocol extension
``POST /v2/models/{name}[/versions/{v}]/explain`` (the same body as ``/infer``, plus the options as ``parameters``),
whose answer is parsed strictly (``Explanation.from_json``).

Routing itself (privacy, floors, fallback, the decision log) is ``sdk.client.routing``'s, as for a prediction. An
endpoint that does not claim the ``explain`` extension in ``GET /v2`` (or a SageMaker endpoint, which has no such
route) is refused for explanations before any payload is sent: the device explains when it has the model.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk._record import record
from sdk.client import wire
from sdk.client.decision import Privacy, Route
from sdk.client.raw import is_raw
from sdk.client.result import payload_bytes
from sdk.errors import AiaasError, CloudUnavailable, DeadlineExceeded
from sdk.protocol.codec import encode_request
from sdk.protocol.framing import join_message, split_message

if TYPE_CHECKING:
    import httpx

    from sdk.client.cloud import CloudRoute
    from sdk.client.routing import RoutedCalls
    from sdk.explain import ExplainOptions, Explanation
    from sdk.runtime import LoadedModel

EXTENSION = "explain"  # the name a server claims in GET /v2's extensions


@record(frozen=False)
class ExplainCall:
    """One ``Client.explain`` call: its options (checked before anything runs) and what each route runs for it."""

    client: RoutedCalls
    model: str
    inputs: Any
    options: ExplainOptions
    payload: int  # bytes the inputs (and ``compare``) weigh on the wire
    timeout_s: float | None
    deadline: float | None  # monotonic time the whole explanation must end by

    @classmethod
    def make(
        cls,
        client: RoutedCalls,
        model: str,
        inputs: Any,
        *,
        target: int | str | None,
        compare: str | bytes | None,
        method: str,
        max_evals: int,
        max_calls: int,
        seed: int,
        timeout_s: float | None,
    ) -> ExplainCall:
        from sdk.explain import ExplainOptions

        options = ExplainOptions(
            method=method, target=target, compare=compare, max_evals=max_evals, max_calls=max_calls, seed=seed
        )
        extra = len(compare.encode("utf-8") if isinstance(compare, str) else compare or b"")
        deadline = time.monotonic() + timeout_s if timeout_s is not None else None
        return cls(client, model, inputs, options, payload_bytes(inputs) + extra, timeout_s, deadline)

    # --- the routes ------------------------------------------------------------------------------------------------

    def run(self, route: Route, level: Privacy, size: int) -> tuple[Explanation, dict[str, float]]:
        if route is Route.LOCAL:
            return self._here()
        assert level is Privacy.PUBLIC and self.client.cloud is not None  # the router never plans otherwise
        budget = self.timeout_s or self.client.config.timeout_s
        if self.deadline is not None:
            budget = min(budget, self._remaining())
        cloud, bounded, inputs = self.client.cloud, self.timeout_s is not None, self._wire_inputs()
        return explain_in_cloud(cloud, self.model, inputs, self.options, timeout_s=budget, caller_deadline=bounded)

    def _wire_inputs(self) -> Any:
        """What the cloud is sent. A series window travels as the model's tensor (OIP has no raw series): scaled
        here by the series processor of this device's manifest, when it has one (the server derives the same lags
        from the tensor as from the window)."""
        series = self.client.local.series(self.model, self.inputs)
        return series.encode(self.inputs).feeds if series is not None else self.inputs

    def _here(self) -> tuple[Explanation, dict[str, float]]:
        start = time.perf_counter()
        loaded = self.client.local.model(self.model)
        explanation, timings = self.on(loaded)
        return explanation, {"load": (time.perf_counter() - start) * 1000 - timings["explain"], **timings}

    def on(self, loaded: LoadedModel) -> tuple[Explanation, dict[str, float]]:
        """The explanation of ``loaded`` (a model on this device), within what is left of the timeout."""
        from sdk.explain import explain

        start = time.perf_counter()
        options = self.options if self.deadline is None else replace(self.options, deadline_s=self._remaining())
        explanation = explain(loaded, self.inputs, options)
        explanation.ran_on = "device"
        return explanation, {"explain": (time.perf_counter() - start) * 1000}

    def _remaining(self) -> float:
        assert self.deadline is not None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"the explanation's timeout of {self.timeout_s} s passed before it could run")
        return left

    def cloud_gate(self) -> AiaasError | None:
        """Why the cloud may not explain this call (it does not offer explanations; its metadata could not be
        read), or None. Asked only where the rule already lets the data go to the cloud; sends no payload."""
        cloud = self.client.cloud
        assert cloud is not None
        if self.client.config.endpoint_kind == "sagemaker":
            return CloudUnavailable(
                "a SageMaker endpoint offers no explanations (it has no /explain route); nothing was sent",
                hint=f"explain on this device: pull the model first (sdk models pull {self.model})",
            )
        try:
            offered = EXTENSION in cloud.extensions()
        except AiaasError as exc:
            return exc.with_traceback(None)
        if offered:
            return None
        return CloudUnavailable(
            f"{cloud.base_url} does not offer explanations (GET /v2 claims no '{EXTENSION}' extension), and "
            f"explanations run only where they are offered; nothing was sent",
            hint=f"explain on this device: pull the model first (sdk models pull {self.model}), or serve it with "
            "a server that offers /explain (sdk serve)",
        )


def explain_in_cloud(
    cloud: CloudRoute, model: str, inputs: Any, options: ExplainOptions, *, timeout_s: float, caller_deadline: bool
) -> tuple[Explanation, dict[str, float]]:
    """One ``/explain`` request for every item and every perturbation: the server runs them all. ``options`` travel
    as ``parameters`` (``deadline_s`` is the server's to set); the answer's ``explanation`` is read strictly, and
    anything malformed is the endpoint's fault (``CloudBadResponse``), never attributions."""
    from sdk.explain import Explanation

    start = time.perf_counter()
    if is_raw(inputs):
        arrays, binary = wire.raw_arrays(cloud, model, inputs)
    else:
        arrays = wire.named_arrays(cloud, model, inputs)
        binary = sum(a.nbytes for a in arrays.values()) >= cloud.config.binary_threshold_bytes
    try:
        parameters = replace(options, deadline_s=None).to_parameters()
    except UnicodeDecodeError as exc:  # image bytes as `compare`: the wire's parameters are JSON text
        raise CloudUnavailable(
            f"{model}: a binary 'compare' input cannot travel in /explain's JSON parameters; nothing was sent"
        ) from exc
    body, headers = _request(arrays, binary, parameters)
    encoded = time.perf_counter()

    def read(response: httpx.Response) -> Explanation:
        try:
            document = response.json()
        except ValueError as exc:
            raise cloud.bad(response, f"its explain answer is not JSON ({exc})") from exc
        if not isinstance(document, dict) or "explanation" not in document:
            raise cloud.bad(response, "its explain answer holds no 'explanation' object")
        try:
            return Explanation.from_json(document["explanation"])
        except ValueError as exc:
            raise cloud.bad(response, f"its explanation is malformed: {exc}") from exc

    path = cloud.model_path(model) + "/explain"
    explanation = cloud.post(path, body, headers, timeout_s=timeout_s, caller_deadline=caller_deadline, read=read)
    explanation.ran_on = "cloud"
    done = time.perf_counter()
    return explanation, {"encode": (encoded - start) * 1000, "total_cloud": (done - start) * 1000}


def _request(arrays: dict[str, np.ndarray], binary: bool, parameters: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An infer request's body carrying the explain options. The answer is one JSON document, so the binary
    extension's ``binary_data_output`` (which asks for binary outputs) is left out: only the options are sent."""
    body, headers = encode_request(arrays, binary=binary, parameters=parameters)
    if not binary:
        return body, headers
    document, blob = split_message(body, headers, what="request")
    document["parameters"].pop("binary_data_output", None)
    if not document["parameters"]:
        del document["parameters"]
    return join_message(document, [bytes(blob)] if blob is not None else [])
