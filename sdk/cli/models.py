"""`sdk models`: what models this machine has, and what each one is."""

from __future__ import annotations

import dataclasses
import errno
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Column, Table

from sdk.artifacts import Manifest, open_store, verify_artifact
from sdk.artifacts.base_schema import BaseSpec
from sdk.artifacts.config import StoreConfig
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.artifacts.s3 import S3Store, s3_client
from sdk.artifacts.store import LocalStore, ModelRef, Store
from sdk.cli._base import console
from sdk.cli.deploy import ConsoleTransfer
from sdk.cli.doctor import installed_version
from sdk.cli.options import JsonOption, StoreOption
from sdk.deploy.aws import environment_for, make_client
from sdk.deploy.pull import pull
from sdk.errors import ConfigError
from sdk.extras import ensure
from sdk.settings import env_text


def _signature(folder: Path) -> str:
    from sdk.artifacts.signing import status
    from sdk.runtime.config import RuntimeConfig

    document = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    trusted = RuntimeConfig.from_env().trusted_keys
    found = status(document, trusted)
    if found.signed and not trusted:
        return f"signed by {found.key_id} (not checked: no AIAAS_TRUSTED_KEYS on this device)"
    return found.describe()


app = typer.Typer(
    help="List and inspect the models in the local store (and the models built into the package).",
    no_args_is_help=True,
)


@app.command("list")
def list_models(
    store: Path | None = StoreOption,
    remote: bool = typer.Option(False, "--remote", help="List the environment's S3 model store instead."),
    env: str = typer.Option("dev", "--env", "-e", envvar="AIAAS_ENV", help="Environment for --remote."),
    as_json: bool = JsonOption,
) -> None:
    """List every model version, with its aliases, precisions and where it is stored.

    Examples:
      sdk models list
      sdk models list --remote --env dev
    """
    layered: Store = _remote_store(env) if remote else open_store(store)
    rows: list[dict[str, Any]] = []
    for name in layered.names():
        aliases = layered.aliases(name)
        for version in layered.versions(name):
            manifest, where = _manifest_of(layered, name, version)
            rows.append(
                {
                    "name": name,
                    "version": version,
                    "aliases": [a for a, rec in aliases.items() if rec.get("version") == version],
                    "task": manifest.task,
                    "precisions": sorted({f"{a.kind}/{a.precision}" for a in manifest.artifacts}),
                    "privacy_floor": manifest.privacy_floor,
                    "store": where,
                }
            )
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print(f"No models in {layered.label}. Add one with `sdk compile` (or check --store).")
        return
    # Fits an 80-column terminal: light borders, and the store as a caption when every row shares one.
    stores = {r["store"] for r in rows}
    columns: list[Column | str] = [Column("model", no_wrap=True), Column("version", no_wrap=True), "aliases", "task"]
    columns += [Column("artifacts"), Column("privacy", no_wrap=True)]
    if len(stores) > 1:
        columns.append(Column("store"))
    caption = f"store: {next(iter(stores))}" if len(stores) == 1 else None
    table = Table(*columns, box=box.SIMPLE_HEAD, caption=caption, caption_justify="left", pad_edge=False)
    for r in rows:
        cells = [r["name"], r["version"], ", ".join(r["aliases"]) or "-", r["task"] or "-"]
        cells += [", ".join(r["precisions"]), r["privacy_floor"]]
        table.add_row(*cells, *([r["store"]] if len(stores) > 1 else []))
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(
        ..., help="NAME, NAME@ALIAS or NAME@VERSION (bare NAME: the live alias, else latest, else the newest version)."
    ),
    store: Path | None = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a model's signature, artifacts, parity results and metrics, after verifying every file's sha256.

    Example: sdk models show digits-cnn
    """
    layered = open_store(store)
    stored = layered.resolve(ModelRef.parse(name))
    manifest = stored.manifest()
    verify_artifact(stored.path, manifest)
    if as_json:
        console.print_json(manifest.to_json())
        return
    console.print(f"[bold]{manifest.ref}[/]  {manifest.description}")
    console.print(f"task: {manifest.task or '-'}   privacy floor: {manifest.privacy_floor}   path: {stored.path}")
    console.print(
        f"source: {manifest.source.framework} {manifest.source.framework_version}  "
        f"recipe: {manifest.source.recipe or '-'}"
    )
    if manifest.base is not None:
        console.print(escape(_base_line(manifest.base)))
    io = Table(
        "", "name", "dtype", "shape", title="signature", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False
    )
    for kind, specs in (("input", manifest.inputs), ("output", manifest.outputs)):
        for s in specs:
            io.add_row(kind, s.name, s.dtype, str(list(s.shape)))
    console.print(io)
    if manifest.processors is not None:
        console.print(escape(_processors_line(manifest.processors)))
    arts = Table(
        Column("file", no_wrap=True),
        "kind",
        "engine",
        Column("precision", no_wrap=True),
        Column("bytes", justify="right", no_wrap=True),
        Column("sha256", no_wrap=True),
        title="artifacts",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    parity_lines = []
    for a in manifest.artifacts:
        parity = "not recorded"
        if a.parity:
            relation = ">=" if a.parity.metric.startswith("mean_") else "<="  # a floor (cosine), else a bound
            parity = (
                f"{'pass' if a.parity.passed else 'FAIL'}: {a.parity.metric} {a.parity.value:.4g} "
                f"{relation} {a.parity.tolerance:.4g} vs {a.parity.reference}"
            )
        parity_lines.append(f"  {a.file}: {parity}")
        engine = str(a.target.get("runtime", a.kind))
        arts.add_row(a.file, a.kind, engine, a.precision, f"{a.bytes:,}", a.sha256[:12] + "…")
    for f in manifest.files:
        arts.add_row(f.file, f.purpose or "file", "-", "-", f"{f.bytes:,}", f.sha256[:12] + "…")
    console.print(arts)
    console.print("parity", soft_wrap=False)
    for line in parity_lines:
        console.print(escape(line))
    _print_plans(manifest)
    console.print(f"signature: {_signature(stored.path)}")
    if manifest.metrics:
        console.print("metrics: " + ", ".join(f"{k}={v:g}" for k, v in manifest.metrics.items()))
    console.print("[green]every file matches its sha256[/]")


def _processors_line(spec: ProcessorsSpec) -> str:
    """The raw input the model takes and, for text, the tokenizers release its probe was recorded under against the
    one installed here (a load refuses a release that tokenizes the probe differently)."""
    parts = []
    if spec.text is not None:
        t = spec.text
        text = f"text via {t.tokenizer}, at most {t.max_length} tokens (cut on the {t.truncation_side})"
        if t.probe_sha256:
            installed = installed_version("tokenizers") or "none"
            text += f"; tokenizer probe recorded under tokenizers {t.tokenizers_version}, installed: {installed}"
        else:
            text += "; no tokenizer probe (compiled before it existed: a tokenizers upgrade is not checked)"
        parts.append(text)
    elif spec.image is not None:
        parts.append(f"image {spec.image.mode} {spec.image.size[0]}x{spec.image.size[1]}")
    elif spec.series is not None:
        parts.append(f"series of {spec.series.window} values")
    if spec.output is not None:
        parts.append(f"answers: {spec.output.kind} from {spec.output.output!r}")
    return "processors: " + "; ".join(parts) if parts else "processors: none"


def _base_line(base: BaseSpec) -> str:
    """Where an adapted model comes from, and what of the base it still runs."""
    shared = ", ".join(sorted(base.files)) or "none"
    if base.mode == "head":
        how = f"head mode: {base.head} reads the base's {base.feature!r} output; reuses the base's {shared}"
    else:
        how = f"{base.mode} mode: weights trained further; files shared with the base: {shared}"
    return f"adapted from: {base.ref} (manifest sha256 {base.manifest_sha256[:12]}…), {how}"


def _print_plans(manifest: Manifest) -> None:
    """Which artifact a load would run on this device, for each way a process uses it, and why."""
    from sdk.errors import AiaasError
    from sdk.runtime.choice import engine_of
    from sdk.runtime.config import RuntimeConfig
    from sdk.runtime.engines import plan

    config = RuntimeConfig.from_env()
    try:
        plans = [plan(manifest, config, usage=usage) for usage in ("server", "oneshot", "function")]
    except AiaasError as exc:
        console.print(f"runs here: nothing loads with these settings: {escape(exc.message)}")
        return
    console.print(f"runs here (precision: {escape(plans[0].precision_reason)}; usage now: {config.process_usage})")
    if len(plans[0].candidates) == 1:
        plans = [dataclasses.replace(plans[0], usage="every usage")]
    for shown in plans:
        a = shown.artifact
        console.print(escape(f"  {shown.usage}: {a.file} ({a.precision}, {engine_of(a)}): {shown.reason}"))
    for note in plans[0].notes:
        console.print(escape(f"  note: {note}"))


def _manifest_of(store: Store, name: str, version: str) -> tuple[Manifest, str]:
    """A version's manifest and the label of the store holding it (an S3 store reads only the manifest)."""
    if isinstance(store, S3Store):
        return store.manifest(name, version), store.label
    stored = store.resolve(ModelRef(name, version))
    return stored.manifest(), stored.store


def _remote_store(env: str) -> S3Store:
    environment = environment_for(env)
    return S3Store(environment.model_store_uri, client=make_client("s3", environment))


@app.command("pull")
def pull_model(
    ref: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME@VERSION in the remote store."),
    env: str = typer.Option("dev", "--env", "-e", envvar="AIAAS_ENV", help="Environment whose store to pull from."),
    remote: str | None = typer.Option(
        None, "--store", help="Pull from this s3://BUCKET/PREFIX instead of the environment's store."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Copy a model version from the cloud's model store into the local store, verified, for `sdk predict` and the
    edge route. NAME@ALIAS resolves through the same alias objects `sdk deploy` moves, so the edge runs what the
    cloud serves; the alias is recorded locally too. Works offline once the version is here.

    Examples:
      sdk models pull digits-cnn@live --env dev
      sdk models pull digits-cnn@2 --store s3://my-bucket/models/
    """
    ensure("boto3", purpose="pulling models from the cloud's store")
    if (env_text(StoreConfig, "root") or "").startswith("s3://"):
        raise ConfigError(
            "AIAAS_STORE names an S3 store; `sdk models pull` copies into a local folder",
            hint="set AIAAS_STORE to a local folder (or unset it for ~/.cache/aiaas/models)",
        )
    source = S3Store(remote, client=s3_client()) if remote is not None else _remote_store(env)
    local = LocalStore(StoreConfig.from_env().root)
    try:
        result = pull(ref, source=source, local=local, progress=None if as_json else ConsoleTransfer("pulling"))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise ConfigError(
            f"the disk filled while pulling {ref} into {local.label} ({exc.strerror}); nothing partial is loadable",
            hint="free space there (or set AIAAS_STORE to a larger disk) and pull again: what landed resumes",
        ) from exc
    if as_json:
        console.print_json(json.dumps({**asdict(result), "path": str(result.path), "source": source.uri}))
        return
    alias = f" ({result.alias} -> {result.version})" if result.alias else ""
    verb = {"pulled": "pulled", "present": "already present:", "offline": "offline, already present:"}[result.status]
    console.print(f"[green]{verb}[/] {escape(result.ref)}{escape(alias)}: {escape(result.detail)}")
