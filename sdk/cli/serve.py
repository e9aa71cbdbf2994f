"""`sdk serve`: the models of a store over the Open Inference Protocol (KServe v2), with dynamic batching."""

from __future__ import annotations

import contextlib
import logging
import sys

import typer
from rich.markup import escape

from sdk.cli._base import err_console


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
        None, "--max-batch-size", help="Most rows merged into one model run; 1 turns batching off. [default: 32]"
    ),
    max_queue_delay_ms: float | None = typer.Option(
        None,
        "--max-queue-delay-ms",
        help="How long a request may wait for others to fill its batch. [default: 0: only what is queued]",
    ),
    max_queue_size: int | None = typer.Option(
        None, "--max-queue-size", help="Requests waiting per model before 503 + Retry-After. [default: 256]"
    ),
    max_body_bytes: int | None = typer.Option(
        None, "--max-body-bytes", help="Largest request body; 413 above it. [default: 6 MiB, Lambda's limit]"
    ),
    auth_token: str | None = typer.Option(
        None,
        "--auth-token",
        envvar="AIAAS_AUTH_TOKEN",
        help="Require 'Authorization: Bearer TOKEN' on every route but the health checks.",
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

    Routes: /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME[/versions/V][/ready|/infer],
    and SageMaker's /ping and /invocations. Errors are {"error": "..."} with a meaningful status.

    Example: sdk serve --port 8080, then
    curl -d '{"inputs":[{"name":"image","shape":[1,1,8,8],"datatype":"FP32","data":[...64 numbers...]}]}'
    http://127.0.0.1:8080/v2/models/digits-cnn/infer
    """
    from sdk.config import RuntimeConfig
    from sdk.serving import http
    from sdk.serving.bootstrap import build_service
    from sdk.serving.config import ServeConfig

    http.import_uvicorn()  # fail before loading models when the server stack is missing
    config = ServeConfig.from_env(
        max_batch_size=max_batch_size,
        max_queue_delay_ms=max_queue_delay_ms,
        max_queue_size=max_queue_size,
        max_body_bytes=max_body_bytes,
        auth_token=auth_token,
        models=tuple(model) or None,
    )
    _setup_logging()
    if not http.is_loopback(host) and config.auth_token is None:
        err_console.print(
            f"[bold yellow]warning[/]: serving on {escape(host)} without --auth-token: anyone who can reach this "
            "port can run the models. Set --auth-token (or AIAAS_AUTH_TOKEN), or bind 127.0.0.1."
        )
    service = build_service(
        store, config=config, runtime=RuntimeConfig.from_env(threads=threads), include_builtin=builtin
    )
    repository = service.repository
    names = ", ".join(m.manifest.ref for m in repository.loaded()) or "no models"

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


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    @property  # type: ignore[override]
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
