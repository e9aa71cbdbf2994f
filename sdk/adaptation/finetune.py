"""Finetune mode (``sdk adapt --mode finetune``): the base's own weights trained further on the examples, then
exported through ``sdk compile``'s pipeline (fp32 parity gate, int8 quality gate) as one new artifact.

Needs torch (the ``compile`` extra). ``finetune`` dispatches on the base: a text embedding base (MiniLM, rebuilt from
its recipe) goes to ``finetune_text`` (SetFit-style contrastive pairs, then the head); an image or series base to
``finetune_layers`` (its layers rebuilt in torch from the artifact's own weights). What both share lives here: the
torch import, the cap on examples, seeded batches made of runs of one class, and ``write_finetuned``, which compiles
the trained model into ``out`` with a ``base`` block naming the base by sha256 (lineage only: the weights changed,
so nothing is chained and only files kept byte for byte, such as a tokenizer, are listed as shared). Everything is
staged beside ``out`` and swapped in whole: a failure leaves ``out`` as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from sdk._record import record
from sdk.adaptation.data import Examples
from sdk.adaptation.features import Base, Progress
from sdk.artifacts.base_schema import BaseSpec
from sdk.artifacts.integrity import read_verified
from sdk.artifacts.manifest import Manifest, write_manifest
from sdk.compile import optimize
from sdk.compile.package import staged_folder
from sdk.compile.parity import ParityResult
from sdk.compile.pipeline import CompileResult, compile_source
from sdk.compile.progress import Progress as CompileProgress
from sdk.compile.progress import Step
from sdk.compile.sources import CompileSource
from sdk.errors import InvalidInput, ParityFailure
from sdk.extras import require
from sdk.runtime.config import RuntimeConfig
from sdk.runtime.model import LoadedModel, load

if TYPE_CHECKING:
    from sdk.adaptation.core import AdaptResult

MAX_EXAMPLES = 1000  # finetune trains on every example each epoch: it must finish in minutes on a 2-core CPU
PURPOSE = "finetuning a model on this device (sdk adapt --mode finetune)"


def import_torch() -> ModuleType:
    """torch, or MissingDependency naming the pinned install (the ``compile`` extra)."""
    return require("torch", purpose=PURPOSE)


def finetune(
    base: Base,
    examples: Examples,
    out: Path,
    *,
    private: bool,
    seed: int,
    folds: int,
    name: str,
    version: str,
    epochs: int | None,
    layers: int | None,
    progress: Progress | None,
) -> AdaptResult:
    """Finetune ``base`` on ``examples`` and write the new artifact to ``out`` (see the module's docstring)."""
    import_torch()
    check_size(examples)
    for value, option in ((epochs, "epochs"), (layers, "layers")):
        if value is not None and value < 1:
            raise InvalidInput(f"--{option} is {value}: it must be at least 1")
    processors = base.manifest.processors
    arguments: dict[str, Any] = {
        "private": private,
        "seed": seed,
        "folds": folds,
        "name": name,
        "version": version,
        "epochs": epochs,
        "layers": layers,
        "progress": progress,
    }
    if processors is not None and processors.text is not None:
        from sdk.adaptation import finetune_text

        return finetune_text.finetune(base, examples, out, **arguments)
    # Images, series, and a tensors-only base of those recipes (e.g. a CNN trained on some digits only, without
    # processors): finetune_layers recognises the architecture from the manifest, or refuses naming what it knows.
    from sdk.adaptation import finetune_layers

    result: AdaptResult = finetune_layers.finetune(base, examples, out, **arguments)
    return result


def check_size(examples: Examples, cap: int = MAX_EXAMPLES) -> None:
    if len(examples) > cap:
        raise InvalidInput(
            f"{examples.source.name} holds {len(examples)} examples; finetune mode trains on at most {cap} "
            "(every example, every epoch, on this device's CPU)",
            hint=f"give at most {cap} (finetune is for a few dozen per class), or use --mode head, which takes any "
            "number",
        )


def class_batches(labels: Sequence[Any], *, batch: int, run: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches: every example once, in batches of about ``batch`` made of shuffled runs of up to ``run``
    examples of one class, so each batch holds pairs of the same class and pairs of different ones."""
    values = np.asarray(labels)
    runs: list[np.ndarray] = []
    for label in np.unique(values):
        members = rng.permutation(np.flatnonzero(values == label))
        runs += [members[i : i + run] for i in range(0, len(members), run)]
    batches: list[np.ndarray] = []
    current: list[np.ndarray] = []
    for i in rng.permutation(len(runs)):
        current.append(runs[i])
        if sum(len(r) for r in current) >= batch:
            batches.append(np.concatenate(current))
            current = []
    if current:
        batches.append(np.concatenate(current))
    return batches


def shared_files(base: Base) -> dict[str, tuple[bytes, str]]:
    """The base's processor files (a tokenizer), read from the very bytes checked against the base's sha256: the new
    artifact ships them unchanged, and its ``base`` block lists them as shared."""
    needed = base.manifest.processors.files if base.manifest.processors is not None else ()
    return {
        f.file: (read_verified(base.folder, f.file, f.sha256, f.bytes), f.purpose)
        for f in base.manifest.files
        if f.file in needed
    }


@record
class Finetuned:
    """What ``write_finetuned`` wrote: the manifest, the fp32 parity gate, the bytes of its own files (not shared with
    the base) and of the base's, and notes (an int8 artifact left out, and why)."""

    manifest: Manifest
    parity: ParityResult
    new_bytes: int
    base_bytes: int
    notes: tuple[str, ...]


class _Steps(CompileProgress):
    """The compile pipeline's steps as the ``(stage, done, total)`` callable head mode reports to."""

    def __init__(self, report: Progress | None, total: int) -> None:
        super().__init__()
        self.report, self.total = report, total

    def finished(self, step: Step) -> None:
        if self.report is not None:
            done = len(self.steps)
            self.report("compile", done, max(done, self.total))


def write_finetuned(
    source: CompileSource,
    out: Path,
    *,
    base: Base,
    private: bool,
    version: str,
    metrics: Mapping[str, float],
    progress: Progress | None = None,
    check: Callable[[LoadedModel], None] | None = None,
) -> Finetuned:
    """Compile ``source`` (fp32, then int8 where it keeps the recipe's quality) into ``out`` with a finetune ``base``
    block; ``check`` runs on the written folder loaded with ``sdk.load`` (raising leaves ``out`` as it was).

    An int8 artifact that misses its quality gate is left out, with the gate's numbers in the notes: the fp32 one
    alone is a complete artifact. An fp32 artifact that misses its parity gate stops everything (ParityFailure)."""
    floor = "private" if private or base.manifest.privacy_floor == "private" else "public"
    steps = _Steps(progress, total=6 + len(optimize.INT8_SCHEMES) + (source.transformer is not None))
    notes: list[str] = []
    with staged_folder(out) as staging:
        inner = staging / "compiled"
        try:
            result = compile_source(
                source, inner, precisions=("fp32", "int8"), version=version, progress=steps, privacy_floor=floor
            )
        except ParityFailure as exc:
            if "int8" not in exc.message:
                raise
            notes.append(f"int8 not shipped, it missed its gate: {exc.message}")
            result = compile_source(
                source, inner, precisions=("fp32",), version=version, progress=steps, privacy_floor=floor
            )
        notes += result.notes
        if progress is not None:
            progress("compile", len(steps.steps), len(steps.steps))
        for child in inner.iterdir():
            child.rename(staging / child.name)
        inner.rmdir()
        manifest = _with_lineage(result, base, source, metrics)
        write_manifest(staging, manifest)
        if check is not None:
            config = RuntimeConfig.from_env(usage="oneshot", warmup_runs=0)
            with load(staging, config=config, precision="fp32") as model:
                check(model)
    parity = result.candidates[0].gate
    assert isinstance(parity, ParityResult)  # fp32: the parity gate (reduced precisions get a quality gate)
    shared = {name for name in source.files}
    new_bytes = sum(a.bytes + sum(s.bytes for s in a.external) for a in manifest.artifacts)
    new_bytes += sum(f.bytes for f in manifest.files if f.file not in shared)
    base_bytes = sum(a.bytes for a in base.manifest.artifacts) + sum(f.bytes for f in base.manifest.files)
    return Finetuned(manifest, parity, new_bytes, base_bytes, tuple(notes))


def _with_lineage(result: CompileResult, base: Base, source: CompileSource, metrics: Mapping[str, float]) -> Manifest:
    assert result.manifest is not None
    compiled = result.manifest
    shared = {f.file: f.sha256 for f in compiled.files if f.file in source.files}
    base_files = {f.file: f.sha256 for f in base.manifest.files}
    lineage = BaseSpec(
        name=base.manifest.name,
        version=base.manifest.version,
        manifest_sha256=base.manifest_sha256,
        files={k: v for k, v in shared.items() if base_files.get(k) == v},  # byte for byte the base's, or not listed
        mode="finetune",
    )
    return dataclasses.replace(compiled, base=lineage, metrics={**compiled.metrics, **metrics})


def agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean cosine between matching rows: how far the finetuned encoder moved from the base (1.0: not at all)."""
    ref = reference.astype(np.float64)
    got = candidate.astype(np.float64)
    norms = np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-12)
    return float(((ref * got).sum(axis=1) / norms).mean())
