"""The Lambda target: point the function at a model version, publish it, and move the serving alias.

Each published function version pins its ``MODEL_URI`` (the version's folder in the store), so the alias decides
what serves: moving it is the release, moving it back is the rollback, and a canary is the alias' weighted routing
(``AdditionalVersionWeights``) between the serving version and the new one. A version already published with the
same ``MODEL_URI`` and code is reused instead of published again (rollbacks are one alias move).

Steps (each undone when a later one fails): update the image (``--build-image``) → update ``$LATEST``'s environment
(``MODEL_URI``; every other variable kept) and wait for ``LastUpdateStatus`` Successful → publish a version and wait
for it to be Active → move the alias. Until the alias moves, the previous version serves every request.
"""

from __future__ import annotations

import math
from dataclasses import field, replace
from typing import Any

from sdk._record import record
from sdk.artifacts.aws_errors import aws_errors, botocore_errors, if_exists
from sdk.deploy.steps import SKIPPED, Outcome, Transaction
from sdk.errors import CloudUnavailable, ConfigError

MODEL_URI = "MODEL_URI"


@record
class LambdaState:
    """What the function and its alias look like now."""

    function: str
    alias: str
    alias_exists: bool
    function_version: str | None
    weights: dict[str, float] = field(default_factory=dict)
    revision_id: str | None = None
    config_revision_id: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    code_sha256: str = ""
    image_uri: str | None = None
    architecture: str = "x86_64"
    state: str = ""
    last_update_status: str = ""
    last_modified: str = ""


class LambdaTarget:
    """A Lambda function's alias (a ``DeployTarget``)."""

    kind = "lambda"
    reuse_key = "function_version"

    def __init__(self, client: Any, function: str, alias: str, *, timeout_s: float = 600.0, poll_s: float = 2.0):
        self.client = client
        self.function = function
        self.alias = alias
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    @property
    def label(self) -> str:
        return f"function {self.function}:{self.alias}"

    # --- reading --------------------------------------------------------------------------------------------------

    def read_state(self) -> LambdaState:
        with aws_errors(f"reading Lambda function {self.function}"):
            function = self.client.get_function(FunctionName=self.function)
        config = function["Configuration"]
        alias = self._get_alias()
        routing = (alias or {}).get("RoutingConfig") or {}
        return LambdaState(
            function=self.function,
            alias=self.alias,
            alias_exists=alias is not None,
            function_version=None if alias is None else str(alias["FunctionVersion"]),
            weights={str(k): float(v) for k, v in (routing.get("AdditionalVersionWeights") or {}).items()},
            revision_id=None if alias is None else alias.get("RevisionId"),
            config_revision_id=config.get("RevisionId"),
            environment=dict((config.get("Environment") or {}).get("Variables") or {}),
            code_sha256=str(config.get("CodeSha256", "")),
            image_uri=(function.get("Code") or {}).get("ImageUri"),
            architecture=str((config.get("Architectures") or ["x86_64"])[0]),
            state=str(config.get("State", "")),
            last_update_status=str(config.get("LastUpdateStatus", "")),
            last_modified=str(config.get("LastModified", "")),
        )

    def _get_alias(self) -> dict[str, Any] | None:
        found = if_exists(
            lambda: self.client.get_alias(FunctionName=self.function, Name=self.alias),
            f"reading alias {self.alias} of {self.function}",
        )
        return None if found is None else dict(found)

    def current_image(self) -> tuple[str, str]:
        state = self.read_state()
        return state.image_uri or "", state.architecture

    def model_uri_of(self, qualifier: str) -> str | None:
        with aws_errors(f"reading version {qualifier} of {self.function}"):
            config = self.client.get_function_configuration(FunctionName=self.function, Qualifier=qualifier)
        return ((config.get("Environment") or {}).get("Variables") or {}).get(MODEL_URI)

    def find_version(self, environment: dict[str, str], code_sha256: str) -> str | None:
        """The newest published version with exactly this environment and the current code, if any."""
        found: list[int] = []
        with aws_errors(f"listing the versions of {self.function}"):
            pages = self.client.get_paginator("list_versions_by_function").paginate(FunctionName=self.function)
            for page in pages:
                for version in page.get("Versions", []):
                    number = str(version.get("Version", ""))
                    variables = (version.get("Environment") or {}).get("Variables") or {}
                    same_code = not code_sha256 or version.get("CodeSha256") == code_sha256
                    if number.isdigit() and variables == environment and same_code:
                        found.append(int(number))
        return str(max(found)) if found else None

    def version_serves(self, version: str, model_uri: str) -> bool:
        """True when published ``version`` still exists and serves ``model_uri``."""
        config = if_exists(
            lambda: self.client.get_function_configuration(FunctionName=self.function, Qualifier=version),
            f"reading version {version} of {self.function}",
        )
        if config is None:
            return False
        return ((config.get("Environment") or {}).get("Variables") or {}).get(MODEL_URI) == model_uri

    # --- releasing ------------------------------------------------------------------------------------------------

    def preflight(self, model_uri: str, canary: float | None) -> str:
        """Check that the release can start (read only); a sentence on what serves now."""
        state = self._checked_state(model_uri, canary)
        if state.function_version is None:
            return f"{self.label}: the alias does not exist yet and will be created"
        return f"{self.label}: now routes to version {_routes(state.function_version, state.weights)}"

    def _checked_state(self, model_uri: str, canary: float | None) -> LambdaState:
        state = self.read_state()
        if canary is None:
            return state
        if not state.alias_exists or state.function_version is None:
            raise ConfigError(
                f"--canary needs a version already serving on {self.label}, and the alias does not exist yet",
                hint="deploy once without --canary",
            )
        if self.model_uri_of(state.function_version) == model_uri:
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
        """Make the alias serve ``model_uri`` (or send it ``canary`` of the traffic); returns the target record.

        ``prefer`` is a published version to reuse when it still serves ``model_uri`` (a rollback's previous one).
        """
        state = self._checked_state(model_uri, canary)
        reuse = None
        if not image_uri:
            if prefer is not None and self.version_serves(prefer, model_uri):
                reuse = prefer
            else:
                reuse = self.find_version({**state.environment, MODEL_URI: model_uri}, state.code_sha256)
        if reuse is not None:
            tx.note("publish function version", SKIPPED, f"reusing version {reuse}, which serves {model_uri}")
            new = reuse
        else:
            if image_uri:
                tx.run("update function image", lambda: self._update_image(tx, state, image_uri))
                # Our own image update moved the revision: the guard of the next change starts from here.
                state = replace(state, config_revision_id=self.read_state().config_revision_id)
            tx.run("update function configuration", lambda: self._update_environment(tx, state, model_uri))
            new = str(tx.run("publish function version", lambda: self._publish(tx, f"aiaas {name}@{version}")))
        primary, weights = (str(state.function_version), {new: canary}) if canary is not None else (new, {})
        tx.run("move function alias", lambda: self._move_alias(state, primary, weights))
        record: dict[str, Any] = {
            "kind": self.kind,
            "function": self.function,
            "alias": self.alias,
            "function_version": primary,
        }
        if canary is not None:
            record["canary_function_version"] = new
        return record

    def _update_image(self, tx: Transaction, state: LambdaState, image_uri: str) -> Outcome[None]:
        def undo() -> str:
            self._wait_idle()
            with aws_errors(f"restoring the image of {self.function}"):
                self.client.update_function_code(FunctionName=self.function, ImageUri=state.image_uri)
            self._wait_updated()
            return f"image of {self.function} is {state.image_uri} again"

        self._wait_idle()
        with aws_errors(f"updating the image of {self.function}"):
            self.client.update_function_code(FunctionName=self.function, ImageUri=image_uri)
        if state.image_uri:
            tx.compensate(undo)  # from here on, even a failed wait puts the previous image back
        self._wait_updated()
        return Outcome(f"{self.function} runs image {image_uri}", undo=undo if state.image_uri else None)

    def _update_environment(self, tx: Transaction, state: LambdaState, model_uri: str) -> Outcome[None]:
        def undo() -> str:
            self._wait_idle()
            with aws_errors(f"restoring the configuration of {self.function}"):
                self.client.update_function_configuration(
                    FunctionName=self.function, Environment={"Variables": state.environment}
                )
            self._wait_updated()
            return f"$LATEST MODEL_URI is {state.environment.get(MODEL_URI, '(unset)')} again"

        self._wait_idle()
        variables = {**state.environment, MODEL_URI: model_uri}
        # Only over the configuration that was read: a concurrent change fails this deploy instead of being lost.
        guard = {"RevisionId": state.config_revision_id} if state.config_revision_id else {}
        with aws_errors(f"updating the configuration of {self.function}"):
            self.client.update_function_configuration(
                FunctionName=self.function, Environment={"Variables": variables}, **guard
            )
        tx.compensate(undo)  # from here on, even a failed wait restores the configuration
        self._wait_updated()
        before = state.environment.get(MODEL_URI, "(unset)")
        return Outcome(f"$LATEST MODEL_URI {before} -> {model_uri}; update Successful", undo=undo)

    def _publish(self, tx: Transaction, label: str) -> Outcome[str]:
        with aws_errors(f"reading {self.function}"):
            code = self.client.get_function_configuration(FunctionName=self.function)["CodeSha256"]
        with aws_errors(f"publishing a version of {self.function}"):
            published = self.client.publish_version(FunctionName=self.function, CodeSha256=code, Description=label)
        version = str(published["Version"])

        def undo() -> str:
            with aws_errors(f"deleting version {version} of {self.function}"):
                self.client.delete_function(FunctionName=self.function, Qualifier=version)
            return f"deleted version {version} (nothing routed to it)"

        tx.compensate(undo)  # a version that never became Active is deleted too
        with aws_errors(f"waiting for version {version} of {self.function} to be Active"):
            self.client.get_waiter("published_version_active").wait(
                FunctionName=self.function, Qualifier=version, WaiterConfig=self._waiter_config()
            )
        return Outcome(f"published version {version} of {self.function}", value=version, undo=undo)

    def _move_alias(self, state: LambdaState, primary: str, weights: dict[str, float]) -> Outcome[None]:
        routing = {"AdditionalVersionWeights": weights}
        shown = _routes(primary, weights)
        if not state.alias_exists:
            with aws_errors(f"creating alias {self.alias} of {self.function}"):
                self.client.create_alias(
                    FunctionName=self.function, Name=self.alias, FunctionVersion=primary, RoutingConfig=routing
                )

            def delete() -> str:
                with aws_errors(f"deleting alias {self.alias} of {self.function}"):
                    self.client.delete_alias(FunctionName=self.function, Name=self.alias)
                return f"deleted alias {self.alias} (it did not exist before)"

            return Outcome(f"created alias {self.alias} -> version {shown}", undo=delete)
        if state.function_version == primary and state.weights == weights:
            return Outcome(f"alias {self.alias} already routes to version {shown}", status=SKIPPED)
        arguments: dict[str, Any] = {"RevisionId": state.revision_id} if state.revision_id else {}
        with aws_errors(f"moving alias {self.alias} of {self.function}"):
            self.client.update_alias(
                FunctionName=self.function, Name=self.alias, FunctionVersion=primary, RoutingConfig=routing, **arguments
            )

        def undo() -> str:
            with aws_errors(f"moving alias {self.alias} of {self.function} back"):
                self.client.update_alias(
                    FunctionName=self.function,
                    Name=self.alias,
                    FunctionVersion=state.function_version,
                    RoutingConfig={"AdditionalVersionWeights": state.weights},
                )
            return f"alias {self.alias} routes to version {state.function_version} again"

        was = _routes(str(state.function_version), state.weights)
        return Outcome(f"alias {self.alias}: version {was} -> {shown}", undo=undo)

    # --- waiting --------------------------------------------------------------------------------------------------

    def _waiter_config(self) -> dict[str, int | float]:
        return {"Delay": self.poll_s, "MaxAttempts": max(1, math.ceil(self.timeout_s / max(self.poll_s, 0.1)))}

    def _wait_updated(self) -> None:
        """Until ``LastUpdateStatus`` is Successful; a Failed update raises with Lambda's reason."""
        waiter = self.client.get_waiter("function_updated_v2")
        try:
            waiter.wait(FunctionName=self.function, WaiterConfig=self._waiter_config())
        except botocore_errors() as exc:
            with aws_errors(f"reading {self.function}"):
                config = self.client.get_function_configuration(FunctionName=self.function)
            status = config.get("LastUpdateStatus", "?")
            reason = config.get("LastUpdateStatusReason") or str(exc)
            raise CloudUnavailable(
                f"the update of {self.function} did not succeed (LastUpdateStatus {status}): {reason}",
                hint="the alias was not moved; fix the cause and deploy again",
            ) from exc

    def _wait_idle(self) -> None:
        """Lambda refuses a change while another is in progress: wait for it first."""
        with aws_errors(f"reading {self.function}"):
            status = self.client.get_function_configuration(FunctionName=self.function).get("LastUpdateStatus")
        if status == "InProgress":
            self._wait_updated()


def _routes(primary: str, weights: dict[str, float]) -> str:
    return primary + "".join(f" + {w:.0%} to {v}" for v, w in weights.items())
