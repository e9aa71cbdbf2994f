"""How the serving core behaves: limits, batching, auth. One frozen object, shared by `sdk serve` and the functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.errors import ConfigError
from sdk.serving.budget import parse_size
from sdk.settings import env, resolve

# AWS Lambda's limit for a synchronous invocation payload: a body over it would be refused by Lambda anyway.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024


@record(kw_only=True)
class ServeConfig:
    """Settings of the serving core; each reads its environment variable when not given."""

    max_body_bytes: int = env(
        "AIAAS_MAX_BODY_BYTES", LAMBDA_PAYLOAD_LIMIT, help="largest request body accepted (413 above it)"
    )
    max_batch_size: int = env(
        "AIAAS_MAX_BATCH_SIZE", 32, help="most rows the batcher merges into one model run (1: no batching)"
    )
    adaptive_batch: bool = env(
        "AIAAS_ADAPTIVE_BATCH",
        True,
        help="size each model's batches by what its runs cost under the live load (no probe on the first request)",
    )
    max_queue_delay_ms: float = env(
        "AIAAS_MAX_QUEUE_DELAY_MS",
        0.0,
        help="how long a request may wait for others to fill a batch (0: batch only what is already queued)",
    )
    length_buckets: bool = env(
        "AIAAS_LENGTH_BUCKETS",
        True,
        help="run the texts of a batch in groups of similar token length, each padded to its own longest "
        "(false: pad the whole batch to its longest text)",
    )
    model_runs: int = env(
        "AIAAS_MODEL_RUNS",
        2,
        help="batches of one model that run at once, each on its own thread; the cores are divided among them "
        "(each session's intra-op threads, unless AIAAS_THREADS sets them)",
    )
    max_queue_size: int = env(
        "AIAAS_MAX_QUEUE_SIZE", 256, help="requests waiting per model before new ones get 503 + Retry-After"
    )
    retry_after_s: int = env("AIAAS_RETRY_AFTER_S", 1, help="Retry-After seconds sent with a 503 when overloaded")
    auth_token: str | None = env(
        "AIAAS_AUTH_TOKEN", None, help="bearer token required on every route but the health checks"
    )
    models: tuple[str, ...] = env(
        "AIAAS_MODELS", (), help="models to serve, comma-separated NAME[@REF] (default: every model in the store)"
    )
    default_model: str | None = env(
        "AIAAS_DEFAULT_MODEL", None, help="model for SageMaker /invocations when the request names none"
    )
    # What one request may cost (413 above each, naming it): the same in sdk serve, the GPU container and the Lambda.
    max_request_rows: int = env(
        "AIAAS_MAX_REQUEST_ROWS",
        1024,
        help="most rows (first dimension) one request may hold; more than max_batch_size run in slices of that size",
    )
    max_request_elements: int = env(
        "AIAAS_MAX_REQUEST_ELEMENTS",
        8 * 1024 * 1024,
        help="most tensor elements one request may declare, all inputs together (each dimension too)",
    )
    # The HTTP server's connections (sdk serve and the GPU container; a Lambda sits behind AWS's own front door).
    max_connections: int = env(
        "AIAAS_MAX_CONNECTIONS",
        512,
        help="open connections at most; one more is answered 503 and closed at once (keep it under `ulimit -n`)",
    )
    max_header_bytes: int = env(
        "AIAAS_MAX_HEADER_BYTES", 16 * 1024, help="request line and headers together, in bytes (431 above it)"
    )
    max_header_count: int = env("AIAAS_MAX_HEADER_COUNT", 100, help="header lines per request (431 above it)")
    header_timeout_s: float = env(
        "AIAAS_HEADER_TIMEOUT_S",
        10.0,
        help="seconds from a connection's (or a request's) first byte to the end of its headers (408, then closed)",
    )
    body_timeout_s: float = env(
        "AIAAS_BODY_TIMEOUT_S",
        60.0,
        help="seconds from the end of the headers to the end of the body (408, then closed)",
    )
    keep_alive_s: float = env(
        "AIAAS_KEEP_ALIVE_S", 5.0, help="seconds an idle keep-alive connection stays open between requests"
    )
    # Explanations (POST .../explain) run many perturbed inputs per request: what a caller may ask is capped here.
    explain: bool = env("AIAAS_EXPLAIN", True, help="answer POST /v2/models/NAME/explain (false: 404, not advertised)")
    explain_max_evals: int = env(
        "AIAAS_EXPLAIN_MAX_EVALS", 1024, help="most perturbed inputs per explained item a request may ask (400 above)"
    )
    explain_max_calls: int = env(
        "AIAAS_EXPLAIN_MAX_CALLS", 16, help="most model calls one explanation may ask for (400 above)"
    )
    explain_max_items: int = env(
        "AIAAS_EXPLAIN_MAX_ITEMS", 16, help="most items one explain request may hold (400 above)"
    )
    explain_concurrency: int = env(
        "AIAAS_EXPLAIN_CONCURRENCY",
        2,
        help="explanations running at once, each on its own worker thread; one more gets 503 + Retry-After",
    )
    explain_deadline_s: float = env(
        "AIAAS_EXPLAIN_DEADLINE_S",
        30.0,
        help="seconds one explanation may run: past it, a partial explanation, or 504 before a usable one",
    )

    # Many models in one process's memory (sdk.serving.budget): load on first use, evict the least recently used idle.
    memory_budget: str | None = env(
        "AIAAS_MEMORY_BUDGET",
        None,
        help="memory the loaded models may hold, e.g. 512MiB or 2GB: models load on first use and the least recently "
        "used idle ones are evicted to make room (unset: every model loaded at start, none evicted)",
    )
    memory_wait_s: float = env(
        "AIAAS_MEMORY_WAIT_S",
        30.0,
        help="seconds a request may wait for memory to load its model under the budget (then 503 + Retry-After)",
    )

    # What an operator sees: GET /metrics (Prometheus) and the page at / (GET /v2/openapi.json is always served).
    metrics: bool = env("AIAAS_METRICS", True, help="serve GET /metrics in Prometheus text format (false: 404)")
    metrics_auth: bool = env(
        "AIAAS_METRICS_AUTH",
        True,
        help="GET /metrics asks for the bearer token like the other routes (false: a scraper reads it without)",
    )
    ui: bool = env("AIAAS_UI", True, help="serve the page at / and its files under /ui/ (false: 404)")
    ui_dir: Path | None = env(
        "AIAAS_UI_DIR", None, help="folder of the page's files, read once at start (default: the package's own)"
    )

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if not 0 <= self.max_queue_delay_ms <= 10_000:
            raise ConfigError(f"max_queue_delay_ms must be between 0 and 10000, got {self.max_queue_delay_ms}")
        if self.max_queue_size < 1:
            raise ConfigError(f"max_queue_size must be >= 1, got {self.max_queue_size}")
        if self.retry_after_s < 1:
            raise ConfigError(f"retry_after_s must be >= 1, got {self.retry_after_s}")
        if self.auth_token is not None and not self.auth_token.strip():
            raise ConfigError("auth_token is empty; give a token or leave it unset")
        for name in ("max_request_rows", "max_request_elements", "max_connections", "max_header_count", "model_runs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_header_bytes < 1024:
            raise ConfigError(f"max_header_bytes must be at least 1024, got {self.max_header_bytes}")
        for name in ("explain_max_evals", "explain_max_calls", "explain_max_items", "explain_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.memory_budget is not None:
            parse_size(self.memory_budget)  # a ConfigError naming the text when it is no size
        for name in ("header_timeout_s", "body_timeout_s", "keep_alive_s", "explain_deadline_s", "memory_wait_s"):
            if not 0 < getattr(self, name) <= 3600:
                raise ConfigError(f"{name} must be more than 0 and at most 3600 seconds, got {getattr(self, name)}")

    @property
    def memory_budget_bytes(self) -> int | None:
        """``memory_budget`` in bytes, or None when there is none."""
        return None if self.memory_budget is None else parse_size(self.memory_budget)

    @classmethod
    def from_env(cls, **arguments: Any) -> ServeConfig:
        return resolve(cls, **arguments)
