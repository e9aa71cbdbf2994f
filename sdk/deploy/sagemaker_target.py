"""The SageMaker target: a new model and endpoint configuration for the version, then ``UpdateEndpoint``.

SageMaker models and endpoint configurations are immutable, so a release creates new ones (named after the endpoint,
the model version and a digest of what they hold, hence reused when they already exist) and switches the endpoint to
them. SageMaker keeps the previous configuration serving until the new one is InService, and goes back to it when
the update fails; we check which configuration the endpoint ended on rather than trust the waiter alone. Previous
models and configurations are kept, so a rollback is one ``UpdateEndpoint`` back to them. A canary is a second
production variant ("canary") carrying the given share of the traffic beside the serving one.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import field
from typing import Any

from sdk._record import record
from sdk.artifacts.aws_errors import aws_errors, botocore_errors, if_exists
from sdk.deploy.steps import SKIPPED, Outcome, Transaction
from sdk.errors import CloudUnavailable, ConfigError

MODEL_URI = "MODEL_URI"
CANARY_VARIANT = "canary"
_CONFIG_KEYS = ("KmsKeyId", "AsyncInferenceConfig", "DataCaptureConfig")


@record
class EndpointState:
    endpoint: str
    status: str
    config_name: str
    variants: list[dict[str, Any]] = field(default_factory=list)
    config_extra: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    image: str = ""
    role: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    last_modified: str = ""
    failure_reason: str = ""

    @property
    def model_uri(self) -> str | None:
        return self.environment.get(MODEL_URI)


class SageMakerTarget:
    """A SageMaker real-time endpoint (a ``DeployTarget``)."""

    kind = "sagemaker"
    reuse_key = "endpoint_config"

    def __init__(self, client: Any, endpoint: str, *, timeout_s: float = 3600.0, poll_s: float = 30.0) -> None:
        self.client = client
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    @property
    def label(self) -> str:
        return f"endpoint {self.endpoint}"

    # --- reading --------------------------------------------------------------------------------------------------

    def read_state(self) -> EndpointState:
        with aws_errors(f"reading SageMaker endpoint {self.endpoint}"):
            endpoint = self.client.describe_endpoint(EndpointName=self.endpoint)
            config_name = str(endpoint["EndpointConfigName"])
            config = self.client.describe_endpoint_config(EndpointConfigName=config_name)
        variants = [dict(v) for v in config.get("ProductionVariants", [])]
        primary = next((v for v in variants if v.get("VariantName") != CANARY_VARIANT), variants[0] if variants else {})
        model_name = str(primary.get("ModelName", ""))
        model = self.describe_model(model_name) or {}
        container = model.get("PrimaryContainer") or {}
        return EndpointState(
            endpoint=self.endpoint,
            status=str(endpoint.get("EndpointStatus", "")),
            config_name=config_name,
            variants=variants,
            config_extra={k: config[k] for k in _CONFIG_KEYS if config.get(k)},
            model=model_name,
            image=str(container.get("Image", "")),
            role=str(model.get("ExecutionRoleArn", "")),
            environment=dict(container.get("Environment") or {}),
            last_modified=str(endpoint.get("LastModifiedTime", "")),
            failure_reason=str(endpoint.get("FailureReason", "") or ""),
        )

    def current_image(self) -> tuple[str, str]:
        return self.read_state().image, "x86_64"

    def describe_model(self, name: str) -> dict[str, Any] | None:
        found = if_exists(lambda: self.client.describe_model(ModelName=name), f"reading SageMaker model {name}")
        return None if found is None else dict(found)

    def config_serves(self, config_name: str, model_uri: str) -> bool:
        """True when endpoint configuration ``config_name`` exists and its one variant serves ``model_uri``."""
        config = if_exists(
            lambda: self.client.describe_endpoint_config(EndpointConfigName=config_name),
            f"reading endpoint configuration {config_name}",
        )
        if config is None:
            return False
        variants = config.get("ProductionVariants", [])
        model = self.describe_model(str(variants[0].get("ModelName"))) if len(variants) == 1 else None
        if model is None:
            return False
        return ((model.get("PrimaryContainer") or {}).get("Environment") or {}).get(MODEL_URI) == model_uri

    # --- releasing ------------------------------------------------------------------------------------------------

    def preflight(self, model_uri: str, canary: float | None) -> str:
        """Check that the release can start (read only); a sentence on what serves now."""
        state = self._checked_state(model_uri, canary)
        return f"{self.label}: {state.status} on {state.config_name}"

    def _checked_state(self, model_uri: str, canary: float | None) -> EndpointState:
        state = self.read_state()
        if state.status != "InService":
            raise CloudUnavailable(
                f"{self.label} is {state.status}, not InService: it cannot take an update now",
                hint="wait until it is InService (see `sdk status`), then run this again",
            )
        if canary is not None and state.model_uri == model_uri:
            raise ConfigError(f"{self.label} already serves {model_uri}: there is nothing to canary")
        return state

    def release(
        self,
        tx: Transaction,
        *,
        model_uri: str,
        name: str,
        version: str,
        canary: float | None,
        image_uri: str | None,
        prefer: str | None = None,
    ) -> dict[str, Any]:
        """Make the endpoint serve ``model_uri`` (or send it ``canary`` of the traffic); returns the target record.

        ``prefer`` is an endpoint configuration to reuse when it still serves ``model_uri`` (a rollback's).
        """
        state = self._checked_state(model_uri, canary)
        if prefer is not None and canary is None and self.config_serves(prefer, model_uri):
            tx.note("create SageMaker model", SKIPPED, f"reusing endpoint configuration {prefer}")
            config_name, model_name = prefer, ""
        else:
            model_name = str(
                tx.run(
                    "create SageMaker model",
                    lambda: self._create_model(state, model_uri, f"{name}@{version}", image_uri),
                )
            )
            config_name = str(
                tx.run("create endpoint configuration", lambda: self._create_config(state, model_name, version, canary))
            )
        tx.run("update endpoint", lambda: self._update_endpoint(tx, state, config_name))
        record: dict[str, Any] = {"kind": self.kind, "endpoint": self.endpoint, "endpoint_config": config_name}
        if model_name:
            record["model"] = model_name
        return record

    def _create_model(self, state: EndpointState, model_uri: str, ref: str, image_uri: str | None) -> Outcome[str]:
        if not state.image or not state.role:
            raise ConfigError(f"{self.label}: its model {state.model!r} has no image or role to build on")
        container = {"Image": image_uri or state.image, "Environment": {**state.environment, MODEL_URI: model_uri}}
        name = _name(self.endpoint, ref.partition("@")[2], {"container": container, "role": state.role})
        if self.describe_model(name) is not None:
            return Outcome(f"model {name} already exists for {model_uri}", value=name, status=SKIPPED)
        with aws_errors(f"creating SageMaker model {name}"):
            self.client.create_model(
                ModelName=name,
                ExecutionRoleArn=state.role,
                PrimaryContainer=container,
                Tags=[{"Key": "aiaas:model", "Value": ref}],
            )

        def undo() -> str:
            with aws_errors(f"deleting SageMaker model {name}"):
                self.client.delete_model(ModelName=name)
            return f"deleted model {name}"

        return Outcome(f"created model {name} (MODEL_URI={model_uri})", value=name, undo=undo)

    def _create_config(self, state: EndpointState, model: str, version: str, canary: float | None) -> Outcome[str]:
        serving = next((v for v in state.variants if v.get("VariantName") != CANARY_VARIANT), None)
        if serving is None:
            raise ConfigError(f"{self.label}: its configuration {state.config_name} has no production variant")
        if canary is None:
            variants = [{**serving, "ModelName": model, "InitialVariantWeight": 1.0}]
        else:
            variants = [
                {**serving, "InitialVariantWeight": round(1.0 - canary, 6)},
                {**serving, "VariantName": CANARY_VARIANT, "ModelName": model, "InitialVariantWeight": canary},
            ]
        name = _name(self.endpoint, version, {"variants": variants, **state.config_extra})
        existing = if_exists(
            lambda: self.client.describe_endpoint_config(EndpointConfigName=name),
            f"reading endpoint configuration {name}",
        )
        if existing is not None:
            return Outcome(f"endpoint configuration {name} already exists", value=name, status=SKIPPED)
        with aws_errors(f"creating endpoint configuration {name}"):
            self.client.create_endpoint_config(
                EndpointConfigName=name, ProductionVariants=variants, **state.config_extra
            )

        def undo() -> str:
            with aws_errors(f"deleting endpoint configuration {name}"):
                self.client.delete_endpoint_config(EndpointConfigName=name)
            return f"deleted endpoint configuration {name}"

        shown = f"{serving.get('InstanceType', '?')} x{serving.get('InitialInstanceCount', '?')}"
        detail = f"created endpoint configuration {name} ({shown}" + (f", canary {canary:.0%})" if canary else ")")
        return Outcome(detail, value=name, undo=undo)

    def _update_endpoint(self, tx: Transaction, state: EndpointState, config_name: str) -> Outcome[None]:
        if state.config_name == config_name:
            return Outcome(f"{self.label} already runs {config_name}", status=SKIPPED)

        def undo() -> str:
            now = self.read_state()
            if now.config_name == state.config_name:
                return f"{self.label} still runs {state.config_name}"
            self._switch(state.config_name)
            return f"{self.label} runs {state.config_name} again"

        self._request_switch(config_name)
        tx.compensate(undo)  # the endpoint may switch even when the wait or the check below fails
        self._await_switch(config_name)
        return Outcome(f"{self.label}: {state.config_name} -> {config_name}, InService", undo=undo)

    def _switch(self, config_name: str) -> None:
        """UpdateEndpoint to ``config_name`` and wait; raise unless the endpoint ends InService on it."""
        self._request_switch(config_name)
        self._await_switch(config_name)

    def _request_switch(self, config_name: str) -> None:
        with aws_errors(f"updating {self.label}"):
            self.client.update_endpoint(EndpointName=self.endpoint, EndpointConfigName=config_name)

    def _await_switch(self, config_name: str) -> None:
        try:
            self.client.get_waiter("endpoint_in_service").wait(
                EndpointName=self.endpoint,
                WaiterConfig={"Delay": self.poll_s, "MaxAttempts": max(1, math.ceil(self.timeout_s / self.poll_s))},
            )
        except botocore_errors() as exc:
            waited: Exception | None = exc
        else:
            waited = None
        now = self.read_state()
        if now.status == "InService" and now.config_name == config_name:
            return
        reason = now.failure_reason or (str(waited) if waited else "the endpoint went back to its previous config")
        raise CloudUnavailable(
            f"{self.label} did not switch to {config_name} (status {now.status}, serving {now.config_name}): {reason}",
            hint="SageMaker keeps the previous configuration serving; check the container's logs, then deploy again",
        ) from waited


def _name(endpoint: str, version: str, spec: dict[str, Any]) -> str:
    """``<endpoint>-v<version>-<digest of spec>``, within SageMaker's name rule (63 of [A-Za-z0-9-])."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]
    head = re.sub(r"[^A-Za-z0-9]+", "-", endpoint).strip("-")[:36]
    tag = re.sub(r"[^A-Za-z0-9]+", "-", version).strip("-")[:14]
    return f"{head}-v{tag}-{digest}"
