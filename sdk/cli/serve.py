"""`sdk serve`: the models of a store over the Open Inference Protocol (KServe v2), with dynamic batching."""

from __future__ import annotations

import contextlib
import difflib
import errno
import logging
import socket
import sys

import typer
from rich.markup import escape

from sdk.cli._base import err_console
from sdk.errors import ConfigError, ModelNotFound


def serve(
    store: str | None = typer.Option(
        None,
        "--store",
        envvar="AIAAS_STORE",
        help="Model store folder, an artifact folder, or s3://BUCKET/PREFIX/ (needs the aws extra). "
        "Built-in models are served too unless --no-builtin.",
        show_default=False,
    ),
    model: list[str] = typer.Option(
        [], "--model", "-m", help="Serve only this model (NAME or NAME@REF); repeat for several. Default: all."
    ),
    host: str = typer.Option("127.0.0.1", "--host", envvar="AIAAS_HOST", help="Interface to bind."),
    port: int = typer.Option(8080, "--port", envvar="AIAAS_PORT", help="Port to bind (0: any free port)."),
    max_batch_size: int | None = typer.Option(
        None, "--max-batch-size", help="Most rows merged into one model run; 1 turns batching off. Default: 32."
    ),
    max_queue_delay_ms: float | None = typer.Option(
        None,
        "--max-queue-delay-ms",
        help="How long a request may wait for others to fill its batch. Default: 0, only what is queued.",
    ),
    max_queue_size: int | None = typer.Option(
        None, "--max-queue-size", help="Requests waiting per model before 503 + Retry-After. Default: 256."
    ),
    max_body_bytes: int | None = typer.Option(
        None, "--max-body-bytes", help="Largest request body; 413 above it. Default: 6 MiB, Lambda's limit."
    ),
    max_request_rows: int | None = typer.Option(
        None, "--max-request-rows", help="Most rows one request may hold; 413 above it. Default: 1024."
    ),
    max_request_elements: int | None = typer.Option(
        None, "--max-request-elements", help="Most tensor elements one request may declare; 413 above. Default: 8 Mi."
    ),
    max_connections: int | None = typer.Option(
        None, "--max-connections", help="Open connections at most; one more gets 503 and is closed. Default: 512."
    ),
    max_header_bytes: int | None = typer.Option(
        None, "--max-header-bytes", help="Request line and headers, in bytes; 431 above it. Default: 16 KiB."
    ),
    max_header_count: int | None = typer.Option(
        None, "--max-header-count", help="Header lines per request; 431 above it. Default: 100."
    ),
    header_timeout: float | None = typer.Option(
        None, "--header-timeout", help="Seconds for a request's headers to arrive; then 408. Default: 10."
    ),
    body_timeout: float | None = typer.Option(
        None, "--body-timeout", help="Seconds for a request's body to arrive after its headers; then 408. Default: 60."
    ),
    keep_alive: float | None = typer.Option(
        None, "--keep-alive", help="Seconds an idle connection stays open between requests. Default: 5."
    ),
    auth_token: str | None = typer.Option(
        None,
        "--auth-token",
        envvar="AIAAS_AUTH_TOKEN",
        help="Require 'Authorization: Bearer TOKEN' on every route but the health checks.",
        show_default=False,
    ),
    memory_budget: str | None = typer.Option(
        None,
        "--memory-budget",
        help="Memory the loaded models may hold (e.g. 512MiB, 2GB; env AIAAS_MEMORY_BUDGET): models load on first "
        "use and the least recently used idle ones are evicted to make room. Default: no budget, all loaded at start.",
        show_default=False,
    ),
    threads: int | None = typer.Option(None, "--threads", help="ONNX Runtime intra-op threads per model."),
    builtin: bool = typer.Option(True, "--builtin/--no-builtin", help="Also serve the models built into aiaas."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="One log line per request."),
    graceful_timeout: float = typer.Option(
        30.0, "--graceful-timeout", help="Seconds to finish in-flight requests after SIGTERM/Ctrl-C."
    ),
) -> None:
    """Serve models over HTTP with the Open Inference Protocol (the same API as the cloud functions).

    Routes: /v2/health/live, /v2/health/ready, /v2, /v2/models (the list), /v2/models/NAME (metadata),
    /v2/models/NAME/ready, /v2/models/NAME/infer, /v2/models/NAME/explain (each also under
    /v2/models/NAME/versions/V/...), SageMaker's /ping and /invocations, /metrics (Prometheus; AIAAS_METRICS=false
    turns it off), /v2/openapi.json (the OpenAPI 3.1 description) and a page at / to see the models, try one and
    watch the metrics (AIAAS_UI=false turns it off). Errors are {"error": "..."} with a meaningful status.

    Example: sdk serve --port 8080, then
    curl -d '{"inputs":[{"name":"image","shape":[1,1,8,8],"datatype":"FP32","data":[...64 numbers...]}]}'
    http://127.0.0.1:8080/v2/models/digits-cnn/infer
    """
    from sdk.runtime.config import RuntimeConfig
    from sdk.serving import http
    from sdk.serving.bootstrap import build_service, check_store
    from sdk.serving.config import ServeConfig

    http.import_uvicorn()  # fail before loading models when the server stack is missing
    check_store(store, setting="--store")
    _check_port(host, port)
    config = ServeConfig.from_env(
        max_batch_size=max_batch_size,
        max_queue_delay_ms=max_queue_delay_ms,
        max_queue_size=max_queue_size,
        max_body_bytes=max_body_bytes,
        max_request_rows=max_request_rows,
        max_request_elements=max_request_elements,
        max_connections=max_connections,
        max_header_bytes=max_header_bytes,
        max_header_count=max_header_count,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        keep_alive_s=keep_alive,
        auth_token=auth_token,
        models=tuple(model) or None,
        memory_budget=memory_budget,
    )
    _setup_logging()
    if not http.is_loopback(host) and config.auth_token is None:
        err_console.print(
            f"[bold yellow]warning[/]: serving on {escape(host)} without --auth-token: anyone who can reach this "
            "port can run the models. Set --auth-token (or AIAAS_AUTH_TOKEN), or bind 127.0.0.1."
        )
    if model:
        _check_models(store, model, builtin)
    service = build_service(
        store,
        config=config,
        runtime=RuntimeConfig.from_env(threads=threads).usage_default("server"),
        include_builtin=builtin,
    )
    repository = service.repository
    names = ", ".join(m.manifest.ref for m in repository.loaded()) or "no models"
    if repository.budget is not None:
        from sdk.serving.budget import format_size

        served = len(repository.names())
        names = (
            f"{served} model(s) loaded on first use within a memory budget of {format_size(repository.budget.capacity)}"
        )

    def ready(url: str) -> None:
        typer.echo(f"aiaas serving {names} at {url} (Ctrl-C to stop)")
        typer.echo(f"  try: curl {url}/v2/models/{repository.names()[0] if repository.names() else 'NAME'}")

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down gracefully already
        http.run(
            service,
            host=host,
            port=port,
            on_ready=ready,
            access_log=access_log,
            graceful_timeout_s=graceful_timeout,
        )
    repository.close()
    typer.echo("aiaas server stopped")


def _check_port(host: str, port: int) -> None:
    """Bind the port once before loading models, so that a port in use is one readable line with the fix."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is not "in use"
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use",
                    hint=f"stop what listens there (`ss -ltnp 'sport = :{port}'` shows it), or pick another --port "
                    "(0: any free port)",
                ) from exc
            raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror}", hint="check --host and --port") from exc


def _check_models(store: str | None, wanted: list[str], builtin: bool) -> None:
    """Every --model must name a model the store holds; the error lists what it does hold."""
    from sdk.artifacts.store import ModelRef
    from sdk.serving.repository import open_model_store

    held = open_model_store(store, include_builtin=builtin).names()
    for ref in wanted:
        name = ModelRef.parse(ref).name
        if name not in held:
            close = difflib.get_close_matches(name, held, n=1)
            raise ModelNotFound(
                f"--model {ref}: no model named {name!r} in the store"
                + (f"; did you mean {close[0]!r}?" if close else ""),
                hint=f"the store holds: {', '.join(held) or 'no models'} (`sdk models list --store STORE`)",
            )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    @property  # type: ignore[override,unused-ignore]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def _setup_logging() -> None:
    """Access log and errors of the serving core on stderr (once per process)."""
    served = logging.getLogger("sdk.serving")
    if not any(isinstance(h, _StderrHandler) for h in served.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        served.addHandler(handler)
        served.setLevel(logging.INFO)
