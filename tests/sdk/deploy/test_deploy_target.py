"""`DeployTarget`: a third target is one class. An in-memory one (no Lambda, no SageMaker) driven by the deployer
through deploy, a failed release (undone) and a rollback; the store and the alias objects stay on the moto S3."""

from __future__ import annotations

from typing import Any

import pytest

from sdk.deploy.lambda_target import LambdaTarget
from sdk.deploy.sagemaker_target import SageMakerTarget
from sdk.deploy.steps import SKIPPED, Outcome, Transaction
from sdk.deploy.target import DeployTarget
from sdk.errors import CloudUnavailable, ConfigError
from tests.sdk.deploy.conftest import STORE_URI, Cloud

pytestmark = pytest.mark.integration


class MemoryTarget:
    """Serves one model URI from a slot; each release is a numbered slot, kept so a rollback can reuse it."""

    kind = "memory"
    reuse_key = "slot"

    def __init__(self) -> None:
        self.serving: str | None = None
        self.slots: dict[str, str] = {}
        self.fail_after_switch = False

    @property
    def label(self) -> str:
        return "memory target"

    def current_image(self) -> tuple[str, str]:
        return "", "x86_64"

    def preflight(self, model_uri: str, canary: float | None) -> str:
        if canary is not None:
            raise ConfigError("the memory target has no canary")
        return f"{self.label}: serves {self.serving or 'nothing yet'}"

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
        if prefer is not None and self.slots.get(prefer) == model_uri:
            slot = prefer
            tx.note("fill slot", SKIPPED, f"reusing slot {slot}")
        else:
            slot = str(len(self.slots) + 1)
            self.slots[slot] = model_uri
        tx.run("switch slot", lambda: self._switch(model_uri))
        if self.fail_after_switch:
            raise CloudUnavailable("the memory target lost its power")
        return {"kind": self.kind, "slot": slot}

    def _switch(self, model_uri: str) -> Outcome[None]:
        before = self.serving

        def undo() -> str:
            self.serving = before
            return f"serves {before} again"

        self.serving = model_uri
        return Outcome(f"{before} -> {model_uri}", undo=undo)


def test_the_built_in_targets_and_a_third_one_have_the_declared_shape(cloud: Cloud) -> None:
    assert isinstance(MemoryTarget(), DeployTarget)
    assert isinstance(LambdaTarget(cloud.lambda_, "f", "live"), DeployTarget)
    assert isinstance(SageMakerTarget(cloud.sagemaker, "e"), DeployTarget)


def test_the_deployer_drives_a_third_target_through_the_protocol_alone(cloud: Cloud, make_artifact) -> None:
    memory = MemoryTarget()
    deployer = cloud.deployer(targets={"memory": lambda alias: memory})
    for version in ("1", "2"):
        report = deployer.deploy(make_artifact(version), target="memory")
        assert report.ok, report.error
    assert memory.serving == f"{STORE_URI}digits-cnn/2/"
    record = cloud.alias_object()
    assert record["version"] == "2" and record["target"] == {"kind": "memory", "slot": "2"}

    memory.fail_after_switch = True  # a failure after the target's own step: the deploy undoes that step too
    report = deployer.deploy(make_artifact("3"), target="memory")
    assert isinstance(report.error, CloudUnavailable)
    assert memory.serving == f"{STORE_URI}digits-cnn/2/" and cloud.alias_object()["version"] == "2"
    memory.fail_after_switch = False

    report = deployer.rollback("digits-cnn")  # the alias object's record names the target: kind "memory"
    assert report.ok, report.error
    assert report.target == "memory" and report.version == "1"
    assert memory.serving == f"{STORE_URI}digits-cnn/1/"
    assert ("fill slot", "skipped") in [(s.name, s.status) for s in report.steps]  # slot 1 reused by its reuse_key
    assert cloud.alias_object()["target"] == {"kind": "memory", "slot": "1"}


def test_an_unknown_target_names_the_known_ones(cloud: Cloud, make_artifact) -> None:
    report = cloud.deployer(targets={"memory": lambda alias: MemoryTarget()}).deploy(make_artifact("1"), target="k8s")
    assert isinstance(report.error, ConfigError) and report.error.hint == "use one of: lambda, sagemaker, memory"
