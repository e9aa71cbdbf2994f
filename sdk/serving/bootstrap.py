"""Build a ready service from a store URI: the one setup shared by `sdk serve`, the Lambda handler and SageMaker."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from sdk.errors import ConfigError
from sdk.runtime.config import RuntimeConfig
from sdk.serving.budget import MemoryBudget
from sdk.serving.config import ServeConfig
from sdk.serving.repository import ModelRepository, open_model_store
from sdk.serving.service import Service


def build_service(
    store: str | Path | None,
    *,
    config: ServeConfig | None = None,
    runtime: RuntimeConfig | None = None,
    include_builtin: bool | None = None,
    cache_dir: str | Path | None = None,
    batching: bool = True,
    fixed: str | None = None,
    require_model: bool = False,
) -> Service:
    """Open ``store`` (folder, artifact folder or ``s3://``), load and warm up every served model, and return the
    service. ``batching`` attaches a dynamic batcher (for an HTTP server; a Lambda invocation is one request). With
    ``config.memory_budget`` the models are checked against it instead and load on first use.

    ``fixed``: the setting that named ``store`` (``MODEL_URI``) where the store is fixed for the process's life (a
    function, a SageMaker container): a local folder that does not exist (a typo) is then a ``ConfigError`` naming
    that setting, never a service that reports ready and answers every request 404. ``require_model``: a store that
    holds no model is one too (a SageMaker endpoint, whose model archive never changes; a Lambda function on an empty
    store root serves no model until its first deploy sets ``MODEL_URI``, docs/deploy-aws.md, and says so per call)."""
    if fixed is not None:
        check_store(store, setting=fixed)
    config = config or ServeConfig.from_env()
    runtime = runtime or RuntimeConfig.from_env()
    if batching:
        runtime = divide_cores(runtime, config.model_runs)
    if config.memory_budget_bytes is not None:
        # The budget charges what a load adds; OpenVINO's static-shape copies come later (~75 MB each for MiniLM int8).
        runtime = dataclasses.replace(runtime, static_shapes=False)
    repository = ModelRepository(
        open_model_store(store, include_builtin=include_builtin, cache_dir=cache_dir),
        runtime=runtime,
        models=config.models,
        budget=MemoryBudget(config.memory_budget_bytes) if config.memory_budget_bytes is not None else None,
        load_wait_s=config.memory_wait_s,
    )
    if batching:  # a function (one request per invocation) never imports the batcher, nor asyncio
        from sdk.serving.batcher import Batcher
    batcher = (
        Batcher(
            max_batch_size=config.max_batch_size,
            max_queue_delay_ms=config.max_queue_delay_ms,
            max_queue_size=config.max_queue_size,
            retry_after_s=config.retry_after_s,
            adaptive=config.adaptive_batch,
            length_buckets=config.length_buckets,
            concurrency=config.model_runs,
        )
        if batching
        else None
    )
    if require_model and not repository.names():
        raise ConfigError(
            f"{fixed or 'the store'}={store} holds no model",
            hint="point it at an artifact folder (`sdk compile --out`) or a store root that `sdk deploy` filled",
        )
    return Service(repository, config=config, batcher=batcher).start()


def check_store(store: str | Path | None, *, setting: str) -> None:
    """A local store folder that does not exist is a typo, not an empty store: say so, naming ``setting``, instead of
    serving nothing. An ``s3://`` URI is checked by reading it."""
    text = str(store) if store is not None else ""
    if text and not text.startswith("s3://") and not Path(text).expanduser().is_dir():
        raise ConfigError(
            f"{setting} {text}: no such folder",
            hint="pass an existing model store or artifact folder (`sdk compile --out`, `sdk models pull` fill one)",
        )


def divide_cores(runtime: RuntimeConfig, runs: int) -> RuntimeConfig:
    """``runtime`` with each session's intra-op threads set to the process's cores divided among ``runs`` concurrent
    batches, unless they are set already. On 2 cores, two batches of one thread each cost MiniLM int8 ~10% less CPU
    per request than one batch on two threads (no hand-off between the threads at every operator), and the event loop
    pre-empting one run no longer stalls the other's half of each operator: +13-16% req/s at 32 clients on a quiet
    machine (issue #20 item 3). Only a machine crowded by other processes favoured one run."""
    if runtime.threads or runs <= 1:
        return runtime
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return dataclasses.replace(runtime, threads=max(1, cores // runs))
