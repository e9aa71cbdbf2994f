"""How the serving core behaves: limits, batching, auth. One frozen object, shared by `sdk serve` and the functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdk.config import env, resolve
from sdk.errors import ConfigError

# AWS Lambda's limit for a synchronous invocation payload: a body over it would be refused by Lambda anyway.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
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
        help="measure each model once on its first request and cap its batches where rows stop getting cheaper",
    )
    max_queue_delay_ms: float = env(
        "AIAAS_MAX_QUEUE_DELAY_MS",
        0.0,
        help="how long a request may wait for others to fill a batch (0: batch only what is already queued)",
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

    @classmethod
    def from_env(cls, **arguments: Any) -> ServeConfig:
        return resolve(cls, **arguments)
