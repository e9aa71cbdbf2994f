"""`Deployer` against a moto server: the Lambda target, the store's objects, the alias object and the undo path."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest

from sdk.artifacts import Parity, read_manifest
from sdk.errors import ConfigError, IntegrityError, ManifestError, ParityFailure
from tests.sdk.deploy.conftest import (
    BOOTSTRAP_URI,
    BUCKET,
    FUNCTION,
    SMALL_PARTS,
    STORE_URI,
    Cloud,
    count_calls,
    inject_fault,
    step,
)

pytestmark = pytest.mark.integration

URI_1 = f"{STORE_URI}digits-cnn/1/"
URI_2 = f"{STORE_URI}digits-cnn/2/"
WRITES = ("PutObject", "CreateMultipartUpload", "UploadPart", "CopyObject", "UploadPartCopy")


def test_deploy_stores_checksummed_objects_points_the_function_and_moves_the_alias(cloud: Cloud, make_artifact) -> None:
    folder = make_artifact("1")
    report = cloud.deployer().deploy(folder)
    assert report.ok, report.error
    assert [s.name for s in report.steps] == [
        "verify artifact",
        "plan",
        "upload",
        "update function configuration",
        "publish function version",
        "move function alias",
        "write alias object",
    ]
    manifest = read_manifest(folder)
    assert cloud.keys("models/digits-cnn/1/") == ["models/digits-cnn/1/manifest.json", "models/digits-cnn/1/model.onnx"]
    for name, sha256, size in manifest.all_files():
        head = cloud.s3.head_object(Bucket=BUCKET, Key=f"models/digits-cnn/1/{name}", ChecksumMode="ENABLED")
        assert head["Metadata"]["sha256"] == sha256 and head["ContentLength"] == size
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha256)).decode()
    stored_manifest = cloud.s3.get_object(Bucket=BUCKET, Key="models/digits-cnn/1/manifest.json")["Body"].read()
    assert stored_manifest == (folder / "manifest.json").read_bytes()
    # The function: MODEL_URI changed, every other variable kept, a version published, the alias on it.
    config = cloud.lambda_.get_function_configuration(FunctionName=FUNCTION)
    assert config["Environment"]["Variables"] == {"MODEL_URI": URI_1, "POWERTOOLS_SERVICE_NAME": "aiaas-inference"}
    assert cloud.versions() == ["1", "2"]
    assert cloud.model_uri("2") == URI_1 and cloud.model_uri("1") == BOOTSTRAP_URI
    assert cloud.alias()["FunctionVersion"] == "2"
    record = cloud.alias_object()
    assert record["version"] == "1" and record["history"] == [] and record["canary"] is None
    assert record["target"] == {"kind": "lambda", "function": FUNCTION, "alias": "live", "function_version": "2"}
    # A second version: the history keeps the first.
    assert cloud.deployer().deploy(make_artifact("2")).ok
    record = cloud.alias_object()
    assert record["version"] == "2" and [h["version"] for h in record["history"]] == ["1"]
    assert cloud.alias()["FunctionVersion"] == "3" and cloud.model_uri("3") == URI_2


def test_identical_redeploy_writes_nothing(cloud: Cloud, make_artifact) -> None:
    folder = make_artifact("1")
    assert cloud.deployer().deploy(folder).ok
    before = {k: cloud.s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in cloud.keys("models/")}
    writes = count_calls(cloud.s3, *WRITES)
    lambda_writes = count_calls(cloud.lambda_, "UpdateFunctionConfiguration", "PublishVersion", "UpdateAlias")
    report = cloud.deployer().deploy(folder)
    assert report.ok, report.error
    assert set(writes.values()) == {0} and set(lambda_writes.values()) == {0}
    assert {k: cloud.s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in cloud.keys("models/")} == before
    statuses = {s.name: s.status for s in report.steps}
    assert statuses["upload"] == "skipped" and "0 uploaded (0 B)" in step(report, "upload").detail
    assert statuses["move function alias"] == "skipped" and statuses["write alias object"] == "skipped"
    assert cloud.versions() == ["1", "2"]


def test_a_new_version_copies_unchanged_files_inside_s3_and_sends_only_new_bytes(cloud: Cloud, make_artifact) -> None:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    writes = count_calls(cloud.s3, *WRITES)
    report = cloud.deployer().deploy(make_artifact("2", extra={"labels.txt": b"0\n1\n2\n"}))
    assert report.ok, report.error
    assert writes["CopyObject"] == 1  # model.onnx, from version 1
    assert writes["PutObject"] == 3  # labels.txt, manifest.json, the alias object
    assert "1 copied inside S3" in step(report, "upload").detail
    head = cloud.s3.head_object(Bucket=BUCKET, Key="models/digits-cnn/2/model.onnx")
    assert head["Metadata"]["sha256"] == read_manifest(make_artifact("2")).artifacts[0].sha256


def test_large_files_go_up_in_parts_with_their_sha256_recorded(cloud: Cloud, make_artifact) -> None:
    big = bytes(range(256)) * (6 * 4096)  # 6 MiB
    folder = make_artifact("1", extra={"vocab.bin": big})
    calls = count_calls(cloud.s3, "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
    progress = Recorder()
    report = cloud.deployer(transfer=SMALL_PARTS, progress=progress).deploy(folder)
    assert report.ok, report.error
    assert calls == {"CreateMultipartUpload": 1, "UploadPart": 2, "CompleteMultipartUpload": 1}
    head = cloud.s3.head_object(Bucket=BUCKET, Key="models/digits-cnn/1/vocab.bin")
    assert head["Metadata"]["sha256"] == hashlib.sha256(big).hexdigest() and head["ContentLength"] == len(big)
    assert progress.total == progress.seen == len(big) + (folder / "model.onnx").stat().st_size
    # Planned again, the multipart object counts as present (its composite checksum is not compared).
    assert cloud.deployer(transfer=SMALL_PARTS).deploy(folder).steps[2].status == "skipped"


def test_canary_routes_the_asked_share_and_a_plain_deploy_promotes_it(cloud: Cloud, make_artifact) -> None:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    report = cloud.deployer().deploy(make_artifact("2"), canary=10)
    assert report.ok, report.error
    alias = cloud.alias()
    assert alias["FunctionVersion"] == "2"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"3": 0.1}
    record = cloud.alias_object()
    assert record["version"] == "1" and record["canary"] == {"version": "2", "weight": 0.1}
    assert record["target"]["canary_function_version"] == "3"
    # Promotion: the same version without --canary reuses the published version; nothing is published again.
    report = cloud.deployer().deploy(make_artifact("2"))
    assert report.ok, report.error
    assert cloud.versions() == ["1", "2", "3"]
    assert cloud.alias()["FunctionVersion"] == "3" and not cloud.alias()["RoutingConfig"]["AdditionalVersionWeights"]
    assert cloud.alias_object()["version"] == "2" and cloud.alias_object()["canary"] is None


def test_canary_needs_a_serving_version_and_a_sane_percentage(cloud: Cloud, make_artifact) -> None:
    report = cloud.deployer().deploy(make_artifact("1"), canary=10)
    assert isinstance(report.error, ConfigError) and "deployed once before" in report.error.message
    assert cloud.keys() == []
    report = cloud.deployer().deploy(make_artifact("1"), canary=150)
    assert isinstance(report.error, ConfigError) and "between 0 and 100" in report.error.message


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        ("bytes", IntegrityError, "model.onnx failed its sha256 check"),
        ("no-parity", ParityFailure, "has no parity result"),
        ("manifest", ManifestError, "not valid JSON"),
    ],
)
def test_a_bad_artifact_is_refused_before_anything_is_uploaded(
    cloud: Cloud, make_artifact, damage: str, error: type, message: str
) -> None:
    folder = make_artifact("1", parity=None) if damage == "no-parity" else make_artifact("1")
    if damage == "bytes":
        data = bytearray((folder / "model.onnx").read_bytes())
        data[100] ^= 0xFF
        (folder / "model.onnx").write_bytes(bytes(data))
    if damage == "manifest":
        (folder / "manifest.json").write_text("{not json")
    calls = count_calls(cloud.s3, "HeadObject", "GetObject", *WRITES)
    report = cloud.deployer().deploy(folder)
    assert isinstance(report.error, error) and message in str(report.error)
    assert [(s.name, s.status) for s in report.steps] == [("verify artifact", "failed")]
    assert set(calls.values()) == {0}  # refused before S3 was even asked
    assert cloud.keys() == [] and cloud.versions() == ["1"] and cloud.model_uri() == BOOTSTRAP_URI


def test_a_waived_parity_failure_ships_and_the_waiver_is_in_the_log(cloud: Cloud, make_artifact) -> None:
    waived = Parity(
        reference="pytorch fp32", metric="top1_agreement", value=0.97, tolerance=0.99, passed=False, samples=360,
        waiver="int8 accuracy accepted by the owner",
    )  # fmt: skip
    report = cloud.deployer().deploy(make_artifact("1", parity=waived))
    assert report.ok, report.error
    assert "waived: int8 accuracy accepted by the owner" in report.steps[0].detail


def test_a_failed_publish_leaves_the_previous_version_serving_and_says_what_was_undone(
    cloud: Cloud, make_artifact
) -> None:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    record = cloud.alias_object()
    inject_fault(cloud.lambda_, "PublishVersion")
    report = cloud.deployer().deploy(make_artifact("2"))
    assert not report.ok and "injected ServiceException" in str(report.error)
    steps = {s.name: s for s in report.steps}
    assert steps["publish function version"].status == "failed"
    assert steps["update function configuration"].status == "rolled back"
    assert steps["update function configuration"].undo == f"$LATEST MODEL_URI is {URI_1} again"
    assert steps["upload"].status == "kept"  # content-addressed: a retry reuses it
    assert "move function alias" not in steps
    assert report.to_dict()["rolled_back"] == ["update function configuration"]
    assert "failed at 'publish function version'" in report.summary()
    # Nothing moved: the alias, the function's MODEL_URI and the alias object are where they were.
    assert cloud.alias()["FunctionVersion"] == "2" and cloud.model_uri() == URI_1
    assert cloud.alias_object() == record and cloud.versions() == ["1", "2"]
    # The retry succeeds and uploads nothing new.
    writes = count_calls(cloud.s3, "CreateMultipartUpload", "CopyObject")
    report = cloud.deployer().deploy(make_artifact("2"))
    assert report.ok and step(report, "upload").status == "skipped" and set(writes.values()) == {0}


def test_losing_the_race_for_the_alias_object_undoes_the_alias_move(cloud: Cloud, make_artifact) -> None:
    """Another deploy writes the alias object between our read and our write: ours is refused (If-Match), and the
    function alias, the published version and $LATEST's MODEL_URI all go back."""
    assert cloud.deployer().deploy(make_artifact("1")).ok

    def competing_write(**_: object) -> None:
        cloud.s3.put_object(Bucket=BUCKET, Key="models/digits-cnn/aliases/live.json", Body=b'{"version": "1"}')

    cloud.lambda_.meta.events.register("after-call.lambda.UpdateAlias", competing_write)
    report = cloud.deployer().deploy(make_artifact("2"))
    assert not report.ok and "changed by someone else" in str(report.error)
    statuses = {s.name: s.status for s in report.steps}
    assert statuses == {
        "verify artifact": "done",
        "plan": "done",
        "upload": "kept",
        "update function configuration": "rolled back",
        "publish function version": "rolled back",
        "move function alias": "rolled back",
        "write alias object": "failed",
    }
    assert cloud.alias()["FunctionVersion"] == "2" and cloud.model_uri() == URI_1
    assert cloud.versions() == ["1", "2"]  # the unused version 3 was deleted


def test_dry_run_plans_without_changing_anything(cloud: Cloud, make_artifact) -> None:
    calls = count_calls(cloud.s3, *WRITES)
    report = cloud.deployer().deploy(make_artifact("1"), dry_run=True)
    assert report.ok and [s.status for s in report.steps] == ["done", "done", "planned", "planned"]
    assert "the alias does not exist" not in step(report, "plan").detail
    assert "now routes to version 1" in step(report, "plan").detail
    assert "2 to upload" in step(report, "upload").detail
    assert "nothing -> 1" in step(report, "release").detail
    assert set(calls.values()) == {0} and cloud.versions() == ["1"]


def test_a_stored_version_is_never_overwritten_by_different_bytes(cloud: Cloud, make_artifact) -> None:
    assert cloud.deployer().deploy(make_artifact("1")).ok
    report = cloud.deployer().deploy(make_artifact("1", extra={"new.txt": b"other build"}))
    assert isinstance(report.error, ConfigError) and "a stored version is never overwritten" in report.error.message
    assert "model.onnx" in str(cloud.keys()) and "new.txt" not in str(cloud.keys())


def test_an_environment_without_a_function_says_how_to_fix_it(cloud: Cloud, make_artifact) -> None:
    cloud.environment = replace(cloud.environment, function_name=None)
    report = cloud.deployer().deploy(make_artifact("1"))
    assert isinstance(report.error, ConfigError) and report.error.message == "environment dev names no Lambda function"
    assert "sdk configure --from-terraform" in (report.error.hint or "")
    assert report.summary() == (
        "deploy digits-cnn@1 refused between steps, after 'verify artifact': nothing was changed"
    )


def test_a_function_that_does_not_exist_stops_the_deploy_before_any_upload(cloud: Cloud, make_artifact) -> None:
    cloud.environment = replace(cloud.environment, function_name="aiaas-prod-inference")
    report = cloud.deployer().deploy(make_artifact("1"))
    assert isinstance(report.error, ConfigError)
    assert report.error.message.startswith("reading Lambda function aiaas-prod-inference: Function not found")
    assert [(s.name, s.status) for s in report.steps] == [("verify artifact", "done"), ("plan", "failed")]
    assert cloud.keys() == []


class Recorder:
    def __init__(self) -> None:
        self.total = self.seen = 0
        self.files: list[str] = []

    def begin(self, total_bytes: int, files: int) -> None:
        self.total = total_bytes

    def file(self, name: str, size: int) -> None:
        self.files.append(name)

    def advance(self, nbytes: int) -> None:
        self.seen += nbytes

    def end(self) -> None:
        pass
