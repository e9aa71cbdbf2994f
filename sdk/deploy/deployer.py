"""``Deployer``: verify → upload → release on the target → move the alias object; and rollback, the same way back.

Every change runs as a step of a ``Transaction`` that wraps the whole run: an exception anywhere in it (in a step or
between two) undoes the done steps in reverse, so the alias (and with it the traffic) stays on the version that served
before, and the report says where it stopped, what was done and what was rolled back. Uploads are content-addressed
and kept (a retry reuses them; a version is only visible once its manifest, written last, is there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sdk.artifacts.manifest import MANIFEST_FILE, Manifest
from sdk.artifacts.s3 import S3Store, parse_s3_uri
from sdk.artifacts.store import SERVING_ALIAS
from sdk.deploy.aliases import AliasObjects, AliasSnapshot, next_record, same_state
from sdk.deploy.aws import AwsClients
from sdk.deploy.environments import Environment
from sdk.deploy.image import DOCKERFILES, PLATFORMS, ImageBuilder, docker_unavailable, repository_of
from sdk.deploy.lambda_target import LambdaTarget
from sdk.deploy.progress import TransferProgress
from sdk.deploy.report import DeployReport
from sdk.deploy.sagemaker_target import SageMakerTarget
from sdk.deploy.steps import KEPT, PLANNED, SKIPPED, Outcome, Step, Transaction
from sdk.deploy.target import DeployTarget, TargetFactory
from sdk.deploy.upload import IN_PLACE, TransferSettings, Uploader, UploadPlan
from sdk.deploy.verify import verify_for_deploy
from sdk.errors import AiaasError, ConfigError, IntegrityError, ModelNotFound

TARGETS = ("lambda", "sagemaker")
DEFAULT_ALIAS = SERVING_ALIAS


class Deployer:
    """Deploys artifact folders to one environment. Clients are made from the environment unless injected.

    A target is anything of the ``DeployTarget`` shape, made by kind: ``lambda`` and ``sagemaker`` from the
    environment, others from ``targets`` (kind -> a factory taking the alias).
    """

    def __init__(
        self,
        environment: Environment,
        *,
        s3: Any = None,
        lambda_client: Any = None,
        sagemaker: Any = None,
        ecr: Any = None,
        transfer: TransferSettings | None = None,
        progress: TransferProgress | None = None,
        observer: Callable[[Step], None] | None = None,
        timeout_s: float = 600.0,
        poll_s: float = 2.0,
        endpoint_timeout_s: float = 3600.0,
        endpoint_poll_s: float = 30.0,
        docker: str = "docker",
        build_context: str | Path = ".",
        targets: Mapping[str, TargetFactory] | None = None,
    ) -> None:
        self.environment = environment
        injected = {"s3": s3, "lambda": lambda_client, "sagemaker": sagemaker, "ecr": ecr}
        self.clients = AwsClients(environment, {k: v for k, v in injected.items() if v is not None})
        self.bucket, self.prefix = parse_s3_uri(environment.model_store_uri)
        self.transfer = transfer or TransferSettings()
        self.progress = progress
        self.observer = observer
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        # A SageMaker endpoint takes minutes to switch (instances start, the container passes its health check).
        self.endpoint_timeout_s = endpoint_timeout_s
        self.endpoint_poll_s = endpoint_poll_s
        self.docker = docker
        self.build_context = Path(build_context)
        self.targets: dict[str, TargetFactory] = {
            "lambda": self._lambda_target,
            "sagemaker": self._sagemaker_target,
            **(targets or {}),
        }

    # --- the pieces -----------------------------------------------------------------------------------------------

    @property
    def aliases(self) -> AliasObjects:
        return AliasObjects(self.clients.s3, self.bucket, self.prefix)

    @property
    def store(self) -> S3Store:
        return S3Store(self.environment.model_store_uri, client=self.clients.s3)

    def version_uri(self, name: str, version: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}/{version}/"

    def default_alias(self, kind: str) -> str:
        return (self.environment.function_alias if kind == "lambda" else None) or DEFAULT_ALIAS

    def target(self, kind: str, alias: str) -> DeployTarget:
        make = self.targets.get(kind)
        if make is None:
            raise ConfigError(f"unknown target {kind!r}", hint=f"use one of: {', '.join(self.targets)}")
        return make(alias)

    def _lambda_target(self, alias: str) -> LambdaTarget:
        env = self.environment
        if not env.function_name:
            raise ConfigError(
                f"environment {env.name} names no Lambda function",
                hint=f"apply infra/envs/{env.name} and run `sdk configure --from-terraform`, or pass --function",
            )
        return LambdaTarget(
            self.clients.lambda_, env.function_name, alias, timeout_s=self.timeout_s, poll_s=self.poll_s
        )

    def _sagemaker_target(self, alias: str) -> SageMakerTarget:
        env = self.environment
        if not env.sagemaker_endpoint:
            raise ConfigError(
                f"environment {env.name} names no SageMaker endpoint",
                hint="apply the env with create_gpu_endpoint = true, or pass --endpoint",
            )
        return SageMakerTarget(
            self.clients.sagemaker,
            env.sagemaker_endpoint,
            timeout_s=self.endpoint_timeout_s,
            poll_s=self.endpoint_poll_s,
        )

    # --- deploy ---------------------------------------------------------------------------------------------------

    def deploy(
        self,
        artifact_dir: str | Path,
        *,
        target: str = "lambda",
        alias: str | None = None,
        canary: float | None = None,
        build_image: bool = False,
        dry_run: bool = False,
    ) -> DeployReport:
        """Ship the artifact at ``artifact_dir`` and point ``alias`` at it (``canary``: percent of the traffic)."""
        alias = alias or self.default_alias(target)
        report = DeployReport("deploy", self.environment.name, target, alias=alias, dry_run=dry_run)
        return self._transaction(
            report, lambda tx: self._deploy(tx, report, artifact_dir, target, alias, canary, build_image, dry_run)
        )

    def _transaction(self, report: DeployReport, body: Callable[[Transaction], None]) -> DeployReport:
        """Run ``body`` in one transaction: any exception in it, in a step or between two, undoes the done steps;
        ours ends up in ``report.error``, beside the step log."""
        tx = Transaction(observer=self.observer)
        try:
            with tx:
                body(tx)
        except AiaasError as exc:
            report.error = exc
        finally:
            report.steps, report.failed_at, report.started = tx.steps, tx.failed_at, tx.started
        return report

    def _deploy(
        self,
        tx: Transaction,
        report: DeployReport,
        artifact_dir: str | Path,
        target: str,
        alias: str,
        canary: float | None,
        build_image: bool,
        dry_run: bool,
    ) -> None:
        weight = _canary_weight(canary)
        manifest = tx.check("verify artifact", lambda: _verified(artifact_dir))
        report.model, report.version = manifest.name, manifest.version
        releaser = self.target(target, alias)
        uploader = Uploader(self.clients.s3, self.bucket, self.prefix, settings=self.transfer, progress=self.progress)
        plan, snapshot = tx.check("plan", lambda: self._plan(uploader, artifact_dir, manifest, releaser, alias, weight))
        if dry_run:
            tx.note("upload", PLANNED, plan.describe(planned=True))
            tx.note("release", PLANNED, _planned_release(releaser, manifest.version, weight, snapshot))
            report.alias_record = snapshot.record
            return
        image = self._build_image(tx, target, releaser) if build_image else None
        tx.run("upload", lambda: _outcome_of_upload(uploader, artifact_dir, plan))
        record = releaser.release(
            tx,
            model_uri=self.version_uri(manifest.name, manifest.version),
            name=manifest.name,
            version=manifest.version,
            canary=weight,
            image_uri=image,
        )
        primary = manifest.version if weight is None else str(snapshot.version)
        canary_record = None if weight is None else {"version": manifest.version, "weight": weight}
        report.alias_record = tx.run(
            "write alias object",
            lambda: self._write_alias(manifest.name, alias, snapshot, primary, record, canary_record),
        )

    def _plan(
        self,
        uploader: Uploader,
        folder: str | Path,
        manifest: Manifest,
        releaser: DeployTarget,
        alias: str,
        weight: float | None,
    ) -> Outcome[tuple[UploadPlan, AliasSnapshot]]:
        """Read what is there and check the deploy can go ahead; nothing is changed yet."""
        plan = uploader.plan(folder, manifest)
        snapshot = self.aliases.read(manifest.name, alias)
        if weight is not None and snapshot.record is None:
            raise ConfigError(
                f"--canary needs {manifest.name}@{alias} deployed once before", hint="deploy without --canary first"
            )
        serving = releaser.preflight(self.version_uri(manifest.name, manifest.version), weight)
        was = _shown(snapshot.version, snapshot.canary) if snapshot.record else "nothing yet"
        stored = sum(map(plan.count, IN_PLACE))
        detail = f"{serving}; {manifest.name}@{alias} is {was}; {stored} of {len(plan.objects)} objects stored"
        return Outcome(detail, value=(plan, snapshot))

    def _build_image(self, tx: Transaction, kind: str, releaser: DeployTarget) -> str | None:
        reason = docker_unavailable(self.docker)
        if reason is not None:
            tx.note("build image", SKIPPED, f"{reason}; the function keeps its current image")
            return None

        def build() -> Outcome[str]:
            current, arch = releaser.current_image()
            if ".dkr.ecr." not in current:
                raise ConfigError(f"{releaser.label} does not run an ECR image ({current or 'none'}): nowhere to push")
            if kind not in DOCKERFILES:
                raise ConfigError(f"--build-image: no Dockerfile is known for the {kind} target")
            builder = ImageBuilder(
                self.clients.ecr,
                repository_of(current),
                self.build_context / DOCKERFILES[kind],
                self.build_context,
                platform=PLATFORMS.get(arch, "linux/amd64"),
                docker=self.docker,
            )
            uri, pushed = builder.build_and_push()
            verb = "built and pushed" if pushed else "unchanged, already in ECR:"
            return Outcome(f"{verb} {uri}", value=uri, status=KEPT)  # content-tagged: harmless to leave in ECR

        return tx.run("build image", build)

    def _write_alias(
        self,
        name: str,
        alias: str,
        snapshot: AliasSnapshot,
        version: str,
        target: dict[str, Any],
        canary: dict[str, Any] | None,
    ) -> Outcome[dict[str, Any]]:
        where = self.aliases.uri(name, alias)
        if same_state(snapshot, version=version, target=target, canary=canary):
            return Outcome(f"{where} already says {version}", value=snapshot.record, status=SKIPPED)
        record = next_record(snapshot, version=version, target=target, canary=canary)
        written = self.aliases.write(name, alias, record, over=snapshot)
        was = _shown(snapshot.version, snapshot.canary) if snapshot.record else "nothing"
        shown = _shown(version, canary)
        return Outcome(
            f"{where}: {was} -> {shown}",
            value=record,
            undo=lambda: self.aliases.restore(name, alias, snapshot, current=written),
        )

    # --- rollback -------------------------------------------------------------------------------------------------

    def rollback(
        self,
        name: str,
        *,
        alias: str | None = None,
        to: str | None = None,
        target: str | None = None,
        dry_run: bool = False,
    ) -> DeployReport:
        """Point ``name@alias`` back at the previous version in its history (or ``to``); a canary is just dropped."""
        kind = target or "lambda"
        report = DeployReport("rollback", self.environment.name, kind, model=name, alias=alias or "", dry_run=dry_run)
        return self._transaction(report, lambda tx: self._rollback(tx, report, name, alias, to, target, dry_run))

    def _rollback(
        self,
        tx: Transaction,
        report: DeployReport,
        name: str,
        alias: str | None,
        to: str | None,
        target: str | None,
        dry_run: bool,
    ) -> None:
        alias = alias or self.default_alias(target or "lambda")
        report.alias = alias
        snapshot = self.aliases.read(name, alias)
        if snapshot.record is None:
            raise ModelNotFound(
                f"{name}@{alias} was never deployed to {self.environment.name}: nothing to roll back",
                hint=f"see `sdk status {name} --env {self.environment.name}`",
            )
        kind = target or str(snapshot.target.get("kind") or "lambda")
        report.target = kind
        releaser = self.target(kind, alias)
        version, prefer = tx.check("plan", lambda: self._rollback_plan(name, alias, snapshot, kind, to, releaser))
        report.version = version
        tx.check("verify stored version", lambda: self._verify_stored(name, version))
        if dry_run:
            tx.note("release", PLANNED, _planned_release(releaser, version, None, snapshot))
            report.alias_record = snapshot.record
            return
        record = releaser.release(
            tx,
            model_uri=self.version_uri(name, version),
            name=name,
            version=version,
            canary=None,
            image_uri=None,
            prefer=prefer,
        )
        report.alias_record = tx.run(
            "write alias object", lambda: self._write_alias(name, alias, snapshot, version, record, None)
        )

    def _rollback_plan(
        self, name: str, alias: str, snapshot: AliasSnapshot, kind: str, to: str | None, releaser: DeployTarget
    ) -> Outcome[tuple[str, str | None]]:
        version, prefer = self._rollback_goal(name, alias, snapshot, kind, to, releaser.reuse_key)
        serving = releaser.preflight(self.version_uri(name, version), None)
        was = _shown(snapshot.version, snapshot.canary)
        return Outcome(f"{serving}; {name}@{alias} is {was}, goes back to {version}", value=(version, prefer))

    def _rollback_goal(
        self, name: str, alias: str, snapshot: AliasSnapshot, kind: str, to: str | None, handle: str
    ) -> tuple[str, str | None]:
        """(version to serve, the target's ``handle`` to reuse if it still serves it: a published function version,
        an endpoint config)."""
        if to is None and snapshot.canary is not None:
            return str(snapshot.version), snapshot.target.get(handle)  # dropping the canary
        entries = [h for h in reversed(snapshot.history) if h.get("target", {}).get("kind", kind) == kind]
        if to is None:
            entry = next((h for h in entries if h.get("version") != snapshot.version), None)
            if entry is None:
                raise ConfigError(
                    f"{name}@{alias} has no earlier version in its history to roll back to",
                    hint="pass --to VERSION (see `sdk status` for the versions in the store)",
                )
            to = str(entry["version"])
        elif to == snapshot.version:
            entry = snapshot.record
        else:
            entry = next((h for h in entries if h.get("version") == to), None)
        versions = self.store.versions(name)
        if to not in versions:
            raise ModelNotFound(
                f"{name} has no version {to!r} in {self.environment.model_store_uri}",
                hint=f"versions there: {', '.join(versions) or 'none'}",
            )
        return to, (entry or {}).get("target", {}).get(handle)

    def _verify_stored(self, name: str, version: str) -> Outcome[Manifest]:
        """The stored version's manifest, after checking each object's recorded sha256 and size against it."""
        store = self.store
        manifest = store.manifest(name, version)
        uploader = Uploader(self.clients.s3, self.bucket, self.prefix)
        for file in uploader.damaged(manifest)[:1]:  # a delta's reused files: in the base's folder; chunks: listed
            raise IntegrityError(
                f"{self.version_uri(name, version)}{file} does not match the sha256 its manifest records",
                file=file,
                hint=f"deploy {name}@{version} again from its artifact folder to repair the store",
            )
        files = len(manifest.all_files())
        return Outcome(f"{manifest.ref}: {MANIFEST_FILE} and {files} file(s) in the store match their sha256", manifest)


def _verified(artifact_dir: str | Path) -> Outcome[Manifest]:
    manifest, waivers = verify_for_deploy(artifact_dir)
    files = manifest.all_files()
    parity = "; ".join(waivers) if waivers else "parity passed for every model file"
    detail = f"{manifest.ref}: manifest valid, {len(files)} file(s) match their sha256, {parity}"
    return Outcome(detail, value=manifest)


def _outcome_of_upload(uploader: Uploader, folder: str | Path, plan: UploadPlan) -> Outcome[None]:
    uploader.execute(folder, plan)
    moved = any(o.action not in IN_PLACE for o in plan.objects)
    return Outcome(plan.describe(), status=KEPT if moved else SKIPPED)


def _shown(version: str | None, canary: dict[str, Any] | None) -> str:
    return f"{version}" + (f" (canary {canary['weight']:.0%} on {canary['version']})" if canary else "")


def _canary_weight(percent: float | None) -> float | None:
    if percent is None:
        return None
    if not 0 < percent < 100:
        raise ConfigError(f"--canary {percent:g} is not a percentage between 0 and 100 (exclusive)")
    return round(percent / 100.0, 4)


def _planned_release(releaser: DeployTarget, version: str, weight: float | None, snapshot: AliasSnapshot) -> str:
    was = _shown(snapshot.version, snapshot.canary) if snapshot.record else "nothing"
    share = f"{weight:.0%} of the traffic" if weight is not None else "all traffic"
    return f"{releaser.label}: {was} -> {version} ({share}); then write the alias object"
