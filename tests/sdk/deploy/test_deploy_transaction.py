"""A deploy or rollback that fails anywhere leaves AWS as it found it, and its report says where it stopped.

Against moto: every AWS call of a successful run is made to fail in turn (the Nth call raises, as AWS would, for N
from 1 until the run completes without reaching N), and every boundary between steps is hit in turn (the step
observer raises after the Kth record: code between steps). After each failure the function, its alias and versions,
the endpoint and the alias objects must equal what they were before, and the report must name the failed step (or
the gap between two steps) and every step it undid. Uploads are content-addressed and deliberately kept.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sdk.deploy import DeployReport, Step
from sdk.deploy.lambda_target import LambdaTarget
from sdk.deploy.steps import FAILED, KEPT, ROLLED_BACK, UNDO_FAILED, Outcome, Transaction
from sdk.errors import CloudUnavailable
from tests.sdk.deploy.conftest import BUCKET, ENDPOINT, FAKE_DOCKER, FUNCTION, IMAGE, Cloud

pytestmark = pytest.mark.integration

CHECKS = {"verify artifact", "plan", "verify stored version"}  # read only: nothing to undo
BUILT_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/aiaas-inference:sdk-0123456789abcdef"
# Made by the UpdateEndpoint stand-in (conftest), never by the deployer: not ours to fail.
STAND_IN_CALLS = {"CreateEndpoint", "DeleteEndpoint"}


class AwsFaults:
    """Counts the calls made through the given clients; the ``fail_at``-th raises a ServiceException, as AWS would."""

    def __init__(self, *clients: Any) -> None:
        self.calls = self.fail_at = 0
        self.failed: str | None = None
        for client in clients:
            service = client.meta.service_model.service_name
            for operation in client.meta.service_model.operation_names:
                if operation not in STAND_IN_CALLS:  # first: ahead of the UpdateEndpoint stand-in
                    client.meta.events.register_first(f"before-call.{service}.{operation}", self._call)

    def arm(self, fail_at: int) -> None:
        """Count from zero again; fail the ``fail_at``-th call (0: none), and remember which failed in ``failed``."""
        self.calls, self.fail_at = 0, fail_at
        if fail_at:
            self.failed = None

    def _call(self, model: Any, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            self.failed = model.name
            message = f"injected fault in AWS call {self.calls} ({model.name})"
            raise ClientError({"Error": {"Code": "ServiceException", "Message": message}}, model.name)


class RaisingObserver:
    """Records every step the transaction reports; raises ``error`` once, right after the ``raise_after``-th."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []
        self.raise_after = 0
        self.error: BaseException | None = None
        self.raised = False

    def arm(self, raise_after: int, error: BaseException) -> None:
        self.records, self.raise_after, self.error, self.raised = [], raise_after, error, False

    def __call__(self, step: Step) -> None:
        self.records.append((step.name, step.status))
        if len(self.records) == self.raise_after and self.error is not None:
            self.raised = True
            raise self.error


def aws_state(cloud: Cloud) -> dict[str, Any]:
    """What a deploy may change, read back from AWS: everything but the (kept) version folders in the store."""
    lam, sm = cloud.lambda_, cloud.sagemaker
    function = lam.get_function(FunctionName=FUNCTION)
    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    listed = lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    state: dict[str, Any] = {
        "image": function["Code"].get("ImageUri"),
        "$LATEST": function["Configuration"]["Environment"]["Variables"],
        "alias": (alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}),
        "versions": {v["Version"]: v["Environment"]["Variables"]["MODEL_URI"] for v in listed},
        "alias objects": {
            key: cloud.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            for key in cloud.keys("models/")
            if "/aliases/" in key
        },
    }
    if sm.list_endpoints()["Endpoints"]:
        endpoint = sm.describe_endpoint(EndpointName=ENDPOINT)
        state["endpoint"] = (endpoint["EndpointStatus"], endpoint["EndpointConfigName"])
        state["endpoint configs"] = sorted(
            c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]
        )
        state["models"] = sorted(m["ModelName"] for m in sm.list_models()["Models"])
    return state


def forget_kept_uploads(cloud: Cloud, before: set[str]) -> None:
    """Delete the objects a failed run uploaded and kept, so the next run starts from the very same store."""
    for key in set(cloud.keys()) - before:
        assert "/aliases/" not in key, f"{key} was left behind"
        cloud.s3.delete_object(Bucket=BUCKET, Key=key)


def put_back(cloud: Cloud, before: dict[str, Any]) -> None:
    """Take a SageMaker deploy that went through (a tolerated fault) back to ``before``: endpoint, models, aliases."""
    sm = cloud.sagemaker
    sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=before["endpoint"][1])  # the stand-in: instant
    for config in {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}:
        if config not in before["endpoint configs"]:
            sm.delete_endpoint_config(EndpointConfigName=config)
    for model in {m["ModelName"] for m in sm.list_models()["Models"]} - set(before["models"]):
        sm.delete_model(ModelName=model)
    for key in cloud.keys("models/"):
        if "/aliases/" in key and key not in before["alias objects"]:
            cloud.s3.delete_object(Bucket=BUCKET, Key=key)
    for key, body in before["alias objects"].items():
        cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def assert_undone(report: DeployReport, before: dict[str, Any], cloud: Cloud, where: str) -> None:
    """The run failed, its record says where, every step that changed something was undone, AWS is as before."""
    assert not report.ok, where
    failed = [s for s in report.steps if s.status == FAILED]
    assert len(failed) == 1 and report.failed_at, (where, report.to_dict())
    assert not [s.name for s in report.steps if s.status == UNDO_FAILED], (where, report.to_dict())
    left_done = {s.name for s in report.steps if s.status == "done"}
    assert left_done <= CHECKS, (where, left_done)  # every other done step was rolled back
    assert report.failed_at in report.summary()
    assert {s.name for s in report.steps if s.status == ROLLED_BACK} <= set(report.to_dict()["rolled_back"])
    assert aws_state(cloud) == before, where


# --- the runs under test: each prepares the cloud, then returns the run (a deploy or a rollback) ---------------------


def lambda_deploy(cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any) -> Callable[..., DeployReport]:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    folder = make_artifact("2")
    return lambda **more: cloud.deployer(**more).deploy(folder)


def lambda_first_deploy(cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any) -> Callable[..., DeployReport]:
    folder = make_artifact("1")  # no alias object yet: the undo deletes the one written
    return lambda **more: cloud.deployer(**more).deploy(folder)


def lambda_canary(cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any) -> Callable[..., DeployReport]:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    folder = make_artifact("2")
    return lambda **more: cloud.deployer(**more).deploy(folder, canary=10)


def lambda_image_deploy(
    cloud: Cloud, make_artifact: Callable[..., Path], *, tmp_path: Path, repo: Path, **kw: Any
) -> Callable[..., DeployReport]:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER.format(log=tmp_path / "docker.log"))
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    ecr = boto3.client("ecr", endpoint_url=cloud.url, region_name="us-east-1")
    folder = make_artifact("2")
    settings = {"ecr": ecr, "docker": str(docker), "build_context": repo}
    return lambda **more: cloud.deployer(**settings, **more).deploy(folder, build_image=True)


def lambda_rollback(cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any) -> Callable[..., DeployReport]:
    for version in ("1", "2"):
        assert cloud.deployer().deploy(make_artifact(version)).ok
    return lambda **more: cloud.deployer(**more).rollback("digits-cnn")


def lambda_rollback_publishing(
    cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any
) -> Callable[..., DeployReport]:
    for version in ("1", "2"):
        assert cloud.deployer().deploy(make_artifact(version)).ok
    # Version 2 never served from a published version: the rollback to it publishes one (and must delete it).
    cloud.lambda_.delete_alias(FunctionName=FUNCTION, Name="live")
    cloud.lambda_.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    for version in ("3", "2"):
        cloud.lambda_.delete_function(FunctionName=FUNCTION, Qualifier=version)
    return lambda **more: cloud.deployer(**more).rollback("digits-cnn", to="2")


def sagemaker_deploy(cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any) -> Callable[..., DeployReport]:
    assert cloud.deployer().deploy(make_artifact("1"), target="sagemaker").ok
    folder = make_artifact("2")
    return lambda **more: cloud.deployer(**more).deploy(folder, target="sagemaker")


def sagemaker_rollback(cloud: Cloud, make_artifact: Callable[..., Path], **kw: Any) -> Callable[..., DeployReport]:
    for version in ("1", "2"):
        assert cloud.deployer().deploy(make_artifact(version), target="sagemaker").ok
    return lambda **more: cloud.deployer(**more).rollback("digits-cnn")


LAMBDA_RUNS = [lambda_deploy, lambda_first_deploy, lambda_canary, lambda_image_deploy, lambda_rollback]
LAMBDA_RUNS += [lambda_rollback_publishing]
SAGEMAKER_RUNS = [sagemaker_deploy, sagemaker_rollback]
RUNS = [pytest.param((run, False), id=run.__name__) for run in LAMBDA_RUNS]
RUNS += [pytest.param((run, True), id=run.__name__) for run in SAGEMAKER_RUNS]


@pytest.fixture
def prepared(request: pytest.FixtureRequest, cloud: Cloud, make_artifact, tmp_path: Path, repo: Path):
    run, needs_endpoint = request.param
    if needs_endpoint:
        request.getfixturevalue("gpu_endpoint")
    return run(cloud, make_artifact, tmp_path=tmp_path, repo=repo)


@pytest.mark.parametrize("prepared", RUNS, indirect=True)
def test_a_failure_in_any_aws_call_undoes_every_done_step(cloud: Cloud, prepared) -> None:
    faults = AwsFaults(cloud.s3, cloud.lambda_, cloud.sagemaker)
    before, keys = aws_state(cloud), set(cloud.keys())
    failed_steps: set[str] = set()
    tolerated: list[int] = []
    for n in range(1, 500):
        faults.arm(n)
        report = prepared()
        faults.arm(0)  # the checks below call AWS too
        if faults.failed is None:  # the run made fewer than n calls: it went through
            break
        where = f"AWS call {n} ({faults.failed})"
        if report.ok:  # a read the run could do without: the endpoint's state is checked after its waiter
            assert "endpoint" in before and faults.failed == "DescribeEndpoint", where
            put_back(cloud, before)
            forget_kept_uploads(cloud, keys)
            assert aws_state(cloud) == before
            tolerated.append(n)
            continue
        assert report.error is not None and "injected fault" in str(report.error.__cause__), (where, report.error)
        assert_undone(report, before, cloud, where)
        failed_steps.add(report.failed_at)
        forget_kept_uploads(cloud, keys)
    assert report.ok, report.error
    assert aws_state(cloud) != before  # the state compared above is one a deploy changes
    changing = {s.name for s in report.steps if s.name not in CHECKS and s.status != "skipped"}
    assert {f"at {name!r}" for name in changing} <= failed_steps  # every changing step failed at least once


# Our errors at every boundary of every run; a bug (RuntimeError) and Ctrl-C (KeyboardInterrupt) on one run each.
BETWEEN = [pytest.param(run.values[0], "ours", id=f"ours-{run.id}") for run in RUNS] + [
    pytest.param((lambda_image_deploy, False), "bug", id="bug-lambda_image_deploy"),
    pytest.param((sagemaker_deploy, True), "interrupt", id="interrupt-sagemaker_deploy"),
]


@pytest.mark.parametrize(("prepared", "kind"), BETWEEN, indirect=["prepared"])
def test_a_failure_between_any_two_steps_undoes_every_done_step(cloud: Cloud, prepared, kind: str) -> None:
    """The observer raises right after each step in turn: code outside any step, like a read between two steps."""
    observer = RaisingObserver()
    before, keys = aws_state(cloud), set(cloud.keys())
    errors: dict[str, type[BaseException]] = {
        "ours": CloudUnavailable,
        "bug": RuntimeError,
        "interrupt": KeyboardInterrupt,
    }
    for k in range(1, 50):
        error = errors[kind](f"injected after step record {k}")
        observer.arm(k, error)
        if kind == "ours":
            report = prepared(observer=observer)
            if not observer.raised:
                break
            assert report.error is error
            assert_undone(report, before, cloud, f"after step record {k}")
            last = report.steps[k - 1].name
            assert report.failed_at == f"between steps, after {last!r}"
            failure = report.steps[k]
            assert failure.name == report.failed_at and "outside any step" in failure.detail
        else:
            try:
                report = prepared(observer=observer)
            except BaseException as raised:
                assert raised is error
            else:
                assert not observer.raised
                break
            assert aws_state(cloud) == before, f"after step record {k}"
            # The observer saw the failure between steps and every undo, as the CLI prints them.
            failed = [name for name, status in observer.records if status == FAILED]
            assert failed == [f"between steps, after {observer.records[k - 1][0]!r}"]
            assert not [name for name, status in observer.records if status == UNDO_FAILED]
        forget_kept_uploads(cloud, keys)
    assert report.ok and aws_state(cloud) != before


def test_a_failed_read_after_the_image_update_puts_the_previous_image_back(
    cloud: Cloud, make_artifact, tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #12 item 14: ``release`` reads the function again between the image update and the configuration
    update; that read failing used to leave the new image in place with no failed step in the report."""
    run = lambda_image_deploy(cloud, make_artifact, tmp_path=tmp_path, repo=repo)
    before = aws_state(cloud)
    read_state = LambdaTarget.read_state

    def failing_after_the_image_moved(self: LambdaTarget) -> Any:
        state = read_state(self)
        if state.image_uri != IMAGE:
            raise CloudUnavailable(f"reading Lambda function {self.function}: injected read failure")
        return state

    monkeypatch.setattr(LambdaTarget, "read_state", failing_after_the_image_moved)
    report = run()
    assert isinstance(report.error, CloudUnavailable) and "injected read failure" in report.error.message
    statuses = {s.name: s.status for s in report.steps}
    assert statuses["update function image"] == ROLLED_BACK
    assert report.failed_at == "between steps, after 'update function image'"
    failure = report.steps[-1]
    assert failure.status == FAILED and failure.name == report.failed_at
    assert "lambda_target.py" in failure.detail and "release" in failure.detail  # where, in the code
    assert "update function configuration" not in statuses
    assert report.to_dict()["rolled_back"] == ["update function image"]
    assert report.summary().startswith(
        "deploy digits-cnn@2 failed between steps, after 'update function image'; rolled back: update function image;"
    )
    assert aws_state(cloud) == before and aws_state(cloud)["image"] == IMAGE


def test_a_change_made_before_its_step_fails_is_undone_with_it(cloud: Cloud, make_artifact) -> None:
    """The configuration update went through, then waiting for it failed: the failed step's own change is undone,
    and the report says so beside the failure."""
    run = lambda_deploy(cloud, make_artifact)
    before = aws_state(cloud)
    updated, failed_once = [False], [False]

    def after_update(**_: Any) -> None:
        updated[0] = True

    def fail_the_first_wait_after_it(model: Any, **_: Any) -> None:
        if updated[0] and not failed_once[0]:  # once: the undo's own update and wait go through
            failed_once[0] = True
            raise ClientError({"Error": {"Code": "ServiceException", "Message": "injected"}}, model.name)

    cloud.lambda_.meta.events.register("after-call.lambda.UpdateFunctionConfiguration", after_update)
    cloud.lambda_.meta.events.register("before-call.lambda.GetFunction", fail_the_first_wait_after_it)  # the waiter
    report = run()
    failed = next(s for s in report.steps if s.status == FAILED)
    assert failed.name == "update function configuration" and "did not succeed" in failed.detail
    assert failed.undo.startswith("$LATEST MODEL_URI is s3://") and failed.undo.endswith("digits-cnn/1/ again")
    assert report.to_dict()["rolled_back"] == ["update function configuration"]
    assert aws_state(cloud) == before


# --- the transaction itself, without AWS --------------------------------------------------------------------------


def change(name: str, undone: list[str], status: str = "done") -> Callable[[], Outcome[str]]:
    """A step's action whose undo appends ``name`` to ``undone``."""

    def undo() -> str:
        undone.append(name)
        return f"{name} undone"

    return lambda: Outcome(f"changed {name}", value=name, undo=undo, status=status)


def test_an_exception_anywhere_in_the_block_undoes_done_steps_in_reverse_and_propagates() -> None:
    undone: list[str] = []
    tx = Transaction()
    with pytest.raises(KeyError, match="between"), tx:
        tx.run("a", change("a", undone))
        tx.run("b", change("b", undone, status=KEPT))
        tx.run("c", change("c", undone))
        raise KeyError("between")
    assert undone == ["c", "a"]  # reverse order; the kept step stays
    assert [(s.name, s.status) for s in tx.steps] == [
        ("a", ROLLED_BACK),
        ("b", KEPT),
        ("c", ROLLED_BACK),
        ("between steps, after 'c'", FAILED),
    ]
    assert tx.failed_at == "between steps, after 'c'"
    assert "test_deploy_transaction.py" not in tx.steps[-1].detail  # only the SDK's own frames are named


def test_an_undo_that_fails_is_recorded_and_the_others_still_run() -> None:
    undone: list[str] = []

    def broken() -> str:
        raise CloudUnavailable("AWS said no")

    def failing() -> Outcome[None]:
        raise CloudUnavailable("step c")

    tx = Transaction()
    with pytest.raises(CloudUnavailable, match="step c"), tx:
        tx.run("a", change("a", undone))
        tx.run("b", lambda: Outcome("b", undo=broken))
        tx.run("c", failing)
    assert undone == ["a"]
    assert [(s.name, s.status) for s in tx.steps] == [("a", ROLLED_BACK), ("b", UNDO_FAILED), ("c", FAILED)]
    assert tx.steps[1].undo == "AWS said no; fix by hand: b" and tx.failed_at == "at 'c'"


def test_a_step_outside_the_with_block_is_refused() -> None:
    with pytest.raises(RuntimeError, match="outside `with Transaction"):
        Transaction().run("a", lambda: Outcome("a"))
