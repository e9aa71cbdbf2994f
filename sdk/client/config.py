"""The client's settings: argument, then environment variable, then the config file `sdk configure` writes, then
the default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from sdk._record import record
from sdk.client.decision import Mode, Privacy, choose
from sdk.errors import ConfigError
from sdk.settings import env, env_text, resolve, xdg_cache_home, xdg_config_home

ENDPOINT_KINDS = ("oip", "lambda-url", "sagemaker")
AUTH_KINDS = ("auto", "none", "bearer", "sigv4")
# The same values, for type checkers (a test keeps the pairs equal).
EndpointKind = Literal["oip", "lambda-url", "sagemaker"]
AuthKind = Literal["auto", "none", "bearer", "sigv4"]


@record(kw_only=True)
class ConfigFile:
    """Where the client's config file is: read before ``ClientConfig``, whose file values it holds."""

    path: Path | None = env(
        "AIAAS_CONFIG", None, help="the client's config file (default: $XDG_CONFIG_HOME/aiaas/config.json)"
    )


def config_path() -> Path:
    """``AIAAS_CONFIG``, else ``$XDG_CONFIG_HOME/aiaas/config.json`` (``~/.config/aiaas/config.json``)."""
    given = env_text(ConfigFile, "path")
    if given:  # an empty AIAAS_CONFIG means unset
        return Path(given).expanduser()
    return xdg_config_home() / "config.json"


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"config file {path} is unreadable: {exc}", hint="fix it, or run `sdk configure` again"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data


def write_config_file(values: dict[str, Any], path: Path | None = None) -> Path:
    """Merge ``values`` into the config file (None removes a key); owner-only permissions, it may hold a token."""
    path = path or config_path()
    current = read_config_file(path)
    current.update(values)
    current = {k: v for k, v in current.items() if v is not None}
    unknown = set(current) - {f for f in ClientConfig.__dataclass_fields__}
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))} for {path}")
    checked: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in current.items()}
    ClientConfig(**checked)  # validate first
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


@record(kw_only=True)
class ClientConfig:
    endpoint: str | None = env("AIAAS_ENDPOINT", None, help="cloud endpoint: an OIP v2 base URL, a function URL, ...")
    endpoint_kind: str = env("AIAAS_ENDPOINT_KIND", "oip", help="oip | lambda-url | sagemaker")
    sagemaker_endpoint: str | None = env("AIAAS_SAGEMAKER_ENDPOINT", None, help="SageMaker endpoint name")
    region: str | None = env("AWS_REGION", None, help="AWS region for SigV4 signing and SageMaker")
    auth: str = env("AIAAS_AUTH", "auto", help="auto | none | bearer | sigv4 (auto: sigv4 for AWS kinds)")
    token: str | None = env("AIAAS_AUTH_TOKEN", None, help="bearer token for the cloud endpoint")
    privacy: str = env("AIAAS_PRIVACY", "public", help="default privacy of a call: public | private")
    mode: str = env("AIAAS_MODE", "auto", help="default routing mode")
    local_only: bool = env(
        "AIAAS_LOCAL_ONLY",
        False,
        help="run every call on this device: no network transport is built, an endpoint is ignored, no call may "
        "undo it",
    )
    timeout_s: float = env("AIAAS_TIMEOUT", 30.0, help="default per-call timeout (seconds)")
    connect_timeout_s: float = env("AIAAS_CONNECT_TIMEOUT", 3.0, help="TCP connect timeout (seconds)")
    max_attempts: int = env("AIAAS_MAX_ATTEMPTS", 3, help="attempts per cloud call (retries on 429/503/connect)")
    breaker_failures: int = env("AIAAS_BREAKER_FAILURES", 3, help="consecutive cloud failures that open the circuit")
    breaker_cooldown_s: float = env("AIAAS_BREAKER_COOLDOWN", 5.0, help="seconds before an open circuit is probed")
    exploration_rate: float = env("AIAAS_EXPLORATION_RATE", 0.03, help="share of calls that refresh the other route")
    binary_threshold_bytes: int = env(
        "AIAAS_BINARY_THRESHOLD", 65_536, help="tensors at least this large go as OIP binary data, smaller as JSON"
    )
    latency_state: Path | None = env("AIAAS_LATENCY_STATE", None, help="file to keep latency estimates between runs")
    persist_latency: bool = env("AIAAS_PERSIST_LATENCY", True, help="save latency estimates when the client closes")
    metadata_ttl_s: float = env(
        "AIAAS_METADATA_TTL",
        60.0,
        help="seconds a cloud model's metadata (its privacy floor, input names) is reused before it is read again",
    )

    def __post_init__(self) -> None:
        if self.endpoint_kind not in ENDPOINT_KINDS:
            raise ConfigError(f"endpoint_kind={self.endpoint_kind!r}; expected one of {', '.join(ENDPOINT_KINDS)}")
        if self.auth not in AUTH_KINDS:
            raise ConfigError(f"auth={self.auth!r}; expected one of {', '.join(AUTH_KINDS)}")
        # Argument, AIAAS_PRIVACY / AIAAS_MODE or the config file: a typo is named, with the value it was likely
        # meant to be. Members of the enums are kept as their string values (the field type).
        for name, enum, var in (("privacy", Privacy, "AIAAS_PRIVACY"), ("mode", Mode, "AIAAS_MODE")):
            source = f"the argument, {var} or the config file"
            member = choose(enum, getattr(self, name), setting=name, source=source, error=ConfigError)
            object.__setattr__(self, name, member.value)
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0 or self.max_attempts < 1:
            raise ConfigError("timeouts must be > 0 and max_attempts >= 1")
        if self.breaker_failures < 1 or self.breaker_cooldown_s <= 0:
            raise ConfigError("breaker_failures must be >= 1 and breaker_cooldown_s > 0")
        if self.metadata_ttl_s < 0:
            raise ConfigError("metadata_ttl_s must be >= 0")
        if not 0 <= self.exploration_rate <= 1:
            raise ConfigError("exploration_rate must be between 0 and 1")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint {self.endpoint!r} must start with http:// or https://")
        if (
            self.endpoint_kind == "sagemaker"
            and self.endpoint is None
            and not (self.sagemaker_endpoint and self.region)
        ):
            raise ConfigError("endpoint_kind sagemaker needs sagemaker_endpoint and region (or an explicit endpoint)")
        state = Path(self.latency_state) if self.latency_state else xdg_cache_home() / "latency.json"
        object.__setattr__(self, "latency_state", state)

    @property
    def cloud_url(self) -> str | None:
        """The cloud's base URL; None without an endpoint, and for a local-only client."""
        if self.local_only:
            return None
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if self.endpoint_kind == "sagemaker" and self.sagemaker_endpoint and self.region:
            return f"https://runtime.sagemaker.{self.region}.amazonaws.com/endpoints/{self.sagemaker_endpoint}"
        return None

    @property
    def auth_kind(self) -> str:
        if self.auth != "auto":
            return self.auth
        if self.endpoint_kind in ("lambda-url", "sagemaker"):
            return "sigv4"
        return "bearer" if self.token else "none"

    def __repr__(self) -> str:  # never print the token
        fields = {k: ("***" if k == "token" and v else v) for k, v in self.__dict__.items()}
        return "ClientConfig(" + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"

    @classmethod
    def from_env(cls, **arguments: Any) -> ClientConfig:
        return resolve(cls, file_values=read_config_file(), **arguments)
