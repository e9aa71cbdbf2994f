"""``POST /v2/models/{name}[/versions/{v}]/explain``: why the model answered what it did (``sdk.explain``), computed on
the very artifact and runtime that answer ``/infer``. An Open Inference Protocol extension, claimed as ``explain``.

The request is an ``/infer`` body (JSON or binary tensors, or one BYTES tensor of raw text or images) and passes the
same checks; its ``parameters`` carry ``ExplainOptions.to_parameters()``. An explanation runs hundreds of perturbed
inputs, so what one caller can make the server do is bounded by ``ServeConfig``, and no setting is left unbounded:

- caps on ``max_evals``, ``max_calls`` and ``max_items``: an ask above one is a 400 naming it; an option the request
  does not send takes its default, lowered to the cap;
- ``explain_concurrency`` explanations at once, each on a worker thread of this module's own pool (never on the event
  loop, never on the batcher's threads, so health checks and ``/infer`` keep answering); one more is refused at once
  with 503 + Retry-After, never queued;
- ``explain_deadline_s`` (or the caller's ``deadline_s``, or a Lambda invocation's remaining time, when shorter) as
  the explanation's deadline: past it, a partial explanation (``partial: true``), or a 504 before a usable one;
- a batch of perturbed inputs runs in slices of ``max_batch_size`` rows, so memory follows the slice (as ``/infer``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk._record import record
from sdk.errors import InvalidInput, Overloaded
from sdk.protocol import jsonio
from sdk.protocol.codec import InferRequest
from sdk.runtime import LoadedModel
from sdk.runtime.processors.text import as_strings
from sdk.serving import limits, raw
from sdk.serving.checks import check_against_model, check_outputs
from sdk.serving.config import ServeConfig
from sdk.serving.messages import JSON_HEADERS, Response
from sdk.serving.metrics import ServingMetrics

if TYPE_CHECKING:  # sdk.explain is imported on the first explanation: a function's init never pays for it
    from sdk.explain import ExplainOptions, Explanation

Forward = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]

# The request parameters OIP itself defines: they say how to encode an /infer answer, not what to explain.
PROTOCOL_KEYS = ("binary_data_output",)
# option -> (its cap in ServeConfig, the cap's environment variable, what it counts)
CAPS = {
    "max_evals": ("explain_max_evals", "AIAAS_EXPLAIN_MAX_EVALS", "perturbed inputs per item"),
    "max_calls": ("explain_max_calls", "AIAAS_EXPLAIN_MAX_CALLS", "model calls per explanation"),
    "max_items": ("explain_max_items", "AIAAS_EXPLAIN_MAX_ITEMS", "items per explain request"),
}


@record
class ExplainJob:
    """An explain request that passed every check and is ready to run."""

    model: LoadedModel
    request: InferRequest
    inputs: Any  # raw items (texts, image bytes) or validated feeds, as ``sdk.explain.explain`` takes them
    options: ExplainOptions
    forward: Forward


def options_from(parameters: Mapping[str, Any], config: ServeConfig) -> ExplainOptions:
    """The request's options within the server's caps and deadline; InvalidInput names the key or the cap."""
    given = {key: value for key, value in parameters.items() if key not in PROTOCOL_KEYS}
    from sdk.explain import ExplainOptions

    options = ExplainOptions.from_parameters(given)
    changes: dict[str, Any] = {}
    for option, (setting, variable, what) in CAPS.items():
        cap, value = getattr(config, setting), getattr(options, option)
        if value <= cap:
            continue
        if option in given:
            raise InvalidInput(
                f"parameter '{option}' is {value}; this server allows at most {cap} {what}",
                hint=f"ask for at most {cap}, or raise the server's {setting} ({variable})",
            )
        changes[option] = cap
    deadline = config.explain_deadline_s
    if options.deadline_s is not None:
        deadline = min(deadline, options.deadline_s)
    return dataclasses.replace(options, **changes, deadline_s=deadline)


def prepare(model: LoadedModel, request: InferRequest, config: ServeConfig, *, batchable: bool) -> ExplainJob:
    """Check an explain request as ``/infer`` checks its body, and its options against the caps."""
    options = options_from(request.parameters, config)
    items = raw.raw_items(model, request)
    inputs: Any
    if items is not None:
        check_outputs(request, raw.known_outputs(model))
        name = next(iter(request.inputs))
        inputs = as_strings(items, f"input '{name}'") if raw.wire_input(model) == "text" else items
        count = len(items)
    else:
        check_against_model(model, request)
        inputs = model.validator(request.inputs)
        count = limits.rows_of(inputs) if batchable else 1
    if count > options.max_items:
        raise InvalidInput(
            f"the request holds {count} items to explain; at most {options.max_items} are explained per request",
            hint="send fewer items, or raise parameters.max_items (up to the server's explain_max_items)",
        )
    return ExplainJob(model, request, inputs, options, sliced_forward(model, config.max_batch_size, batchable))


def within(job: ExplainJob, seconds: float | None) -> ExplainJob:
    """``job`` with its deadline no later than ``seconds`` from now (None: as it is)."""
    if seconds is None:
        return job
    deadline = max(min(job.options.deadline_s or seconds, seconds), 1e-9)  # none left: the first check fails (504)
    return dataclasses.replace(job, options=dataclasses.replace(job.options, deadline_s=deadline))


def sliced_forward(model: LoadedModel, size: int, batchable: bool) -> Forward:
    """The model's forward pass over validated feeds, ``size`` rows per run when it takes a batch dimension."""
    if not batchable:
        return model.run_validated

    def forward(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return limits.run_sliced(model.run_validated, feeds, limits.rows_of(feeds), size)

    return forward


def respond(job: ExplainJob, explanation: Explanation, request_id: str, run_ms: float) -> Response:
    """``{"model_name", "model_version", "id", "explanation"}`` as JSON."""
    manifest = job.model.manifest
    document: dict[str, Any] = {"model_name": manifest.name, "model_version": manifest.version}
    if job.request.id is not None:
        document["id"] = job.request.id
    document["explanation"] = explanation.to_json()
    headers = {**JSON_HEADERS, "x-request-id": request_id, "server-timing": f"explain;dur={run_ms:.3f}"}
    return Response(200, headers, jsonio.dumps(document))


class Explainer:
    """Runs explanations, at most ``explain_concurrency`` at once; one more raises Overloaded (503) at once."""

    def __init__(self, config: ServeConfig, metrics: ServingMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics  # explanations counted by outcome and timed, when the server keeps metrics
        self._slots = threading.BoundedSemaphore(config.explain_concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run(self, job: ExplainJob) -> Explanation:
        """Explain in the calling thread (the Lambda handler's way: one request per invocation)."""
        self._take_slot(job)
        return self._held(job)

    async def run_async(self, job: ExplainJob) -> Explanation:
        """Explain on this pool's worker thread; the slot is held until the work ends, even if the caller left."""
        self._take_slot(job)
        try:
            future = self._executor().submit(self._held, job)
        except BaseException:
            self._slots.release()
            raise
        import asyncio  # here: a function explains in its own thread (``run``), never on a loop

        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the pool's threads once their explanations end (new ones would start a new pool)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def _take_slot(self, job: ExplainJob) -> None:
        if not self._slots.acquire(blocking=False):
            if self.metrics is not None:
                self.metrics.model(job.model.manifest.name, job.model.manifest.version).rejected("explain_busy")
            retry = self.config.retry_after_s
            raise Overloaded(
                f"this server runs at most {self.config.explain_concurrency} explanation(s) at once and all are "
                f"running; retry after {retry} s",
                retry_after=retry,
            )

    def _held(self, job: ExplainJob) -> Explanation:
        began = time.perf_counter()
        outcome = "failed"
        try:
            from sdk.explain import explain

            explanation = explain(job.model, job.inputs, job.options, forward=job.forward)
            outcome = "partial" if explanation.partial else "complete"
        finally:
            self._slots.release()
            if self.metrics is not None:
                series = self.metrics.model(job.model.manifest.name, job.model.manifest.version)
                series.explained(outcome, time.perf_counter() - began)
        return dataclasses.replace(explanation, ran_on="cloud")  # as the caller sees it: not on its device

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                workers = self.config.explain_concurrency  # a slot is held per task, so the pool never queues
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aiaas-explain")
            return self._pool
