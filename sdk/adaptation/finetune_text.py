"""Finetune mode for text: MiniLM (all-MiniLM-L6-v2, rebuilt in torch from its recipe) trained SetFit-style on the
examples, then a head, exported as one artifact that answers raw text.

1. The base must be the recipe's model: compiled from the ``minilm-l6`` recipe, from the weights the recipe loads on
   this machine (the manifest's source sha256); anything else is refused, saying what differs.
2. Contrastive pairs: each batch is made of runs of same-class examples (``finetune.class_batches``) and every pair
   in it is a training pair, target cosine 1 for the same class and 0 for different ones (SetFit's
   CosineSimilarityLoss), the positive and the negative pairs weighted equally. Only the last ``layers`` transformer
   layers train (AdamW, seeded); embeddings and the layers below stay frozen. Steps are capped (``MAX_STEPS``), and
   by default the epochs are as many as fill that budget (measured on 8 docstrings x 8 classes, seed 0: 16 steps
   +0.7 points over head mode, 120 steps +3.7).
3. The head: ``heads.fit_classes`` (logistic regression, L2 by cross-validation) on the finetuned embeddings.
4. Encoder and head as one torch module (outputs ``probabilities`` and ``embedding``) compiled by ``sdk.compile``:
   fp32 held to it number for number, int8 to its top-1 classes (``INT8_MAX_DROP``); the base's ``tokenizer.json``
   ships unchanged, so raw text works and the processor gate checks it against the source's tokenizer.

Forgetting: the mean cosine between the base's and the finetuned encoder's embeddings of the recipe's held-out
general sentences (1.0: nothing moved), recorded in the manifest's metrics and the result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sdk.adaptation import heads
from sdk.adaptation.core import AdaptResult
from sdk.adaptation.data import Examples
from sdk.adaptation.features import Base, Progress
from sdk.adaptation.finetune import agreement, class_batches, import_torch, shared_files, write_finetuned
from sdk.artifacts.manifest import TensorSpec
from sdk.artifacts.processors_schema import OutputSpec, ProcessorsSpec
from sdk.compile.extras import translating_imports
from sdk.compile.recipe import Evaluation, QualityGate, Recipe, load_recipe
from sdk.compile.sources import CompileSource
from sdk.errors import InvalidInput, ModelNotFound, ParityFailure
from sdk.runtime.model import LoadedModel

RECIPE = "minilm-l6"
BATCH = 16  # examples per step: 120 pairs
RUN = 4  # same-class examples next to each other in a batch
LEARNING_RATE = 5e-5
MAX_STEPS = 120  # at most 120 x 120 pairs: 0.3-4 s a step on a shared 2-core CPU
PARITY_EXAMPLES = 64  # examples in the compile gates' held-out set, beside the recipe's general sentences
INT8_MAX_DROP = 0.05  # share of top-1 classes int8 may change against the finetuned torch model
CHECK_TOLERANCE = 1e-3  # probabilities, the written folder through sdk.load vs the torch model on raw examples


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
    torch = import_torch()
    if examples.kind != "text":
        raise InvalidInput(
            f"{examples.source.name} gives {examples.kind} examples, but {base.manifest.ref} takes text",
            hint="give a 'text' column (CSV) or key (JSONL) and a class name per example",
        )
    started = time.perf_counter()
    recipe = _recipe(base)
    with translating_imports(f"the recipe {recipe.name}"):
        encoder = recipe.train().model
    _check_weights(base, encoder)
    depth = len(encoder.bert.encoder.layer)
    layers = depth if layers is None else layers
    if layers > depth:
        raise InvalidInput(f"--layers is {layers}: {base.manifest.ref} has {depth} transformer layers")
    epochs = epochs or default_epochs(len(examples))
    general = recipe.evaluation(seed).inputs  # held-out general sentences: where forgetting is measured
    before = _embed(torch, encoder, general)
    ids = _tokens(base, examples.items)
    steps, pairs = _train(
        torch, encoder, ids, examples.labels, layers=layers, epochs=epochs, seed=seed, progress=progress
    )
    after = _embed(torch, encoder, general)
    forgetting = agreement(before, after)
    values = _embed(torch, encoder, ids, progress=progress)
    head = heads.fit_classes(values, examples.labels, folds=folds, seed=seed)
    model = _classifier(torch, encoder, head)
    metrics = {
        **head.cv,
        "l2": head.l2,
        "examples": float(len(examples)),
        "folds": float(folds),
        "seed": float(seed),
        "epochs": float(epochs),
        "layers": float(layers),
        "steps": float(steps),
        "pairs": float(pairs),
        "classes": float(len(head.labels)),
        "forgetting.encoder_cosine": forgetting,
        "forgetting.sentences": float(len(before)),
    }
    source = _source(torch, base, recipe, model, head, examples, general, name, seed)
    probe = examples.items[:BATCH]
    written = write_finetuned(
        source,
        out,
        base=base,
        private=private,
        version=version,
        metrics={**metrics, "train_seconds": time.perf_counter() - started},
        progress=progress,
        check=lambda loaded: _check_raw_text(torch, loaded, model, base, probe),
    )
    return AdaptResult(
        Path(out),
        written.manifest,
        head,
        written.parity,
        written.new_bytes,
        written.base_bytes,
        mode="finetune",
        forgetting=forgetting,
        notes=written.notes,
    )


def default_epochs(examples: int) -> int:
    """As many epochs as fill MAX_STEPS (at least one): few examples get many passes, many examples one or two."""
    per_epoch = -(-examples // BATCH)
    return max(1, -(-MAX_STEPS // per_epoch))


def _recipe(base: Base) -> Recipe:
    """The MiniLM recipe, found where the base was compiled from (its manifest's source) or under ./models."""
    manifest = base.manifest
    origin = manifest.source.recipe
    if manifest.name != RECIPE and Path(origin).name != RECIPE.replace("-", "_"):
        made = f"{manifest.source.framework} ({origin or 'no recipe'})"
        raise InvalidInput(
            f"{manifest.ref} is not a model text finetune knows: it trains {RECIPE} (all-MiniLM-L6-v2) from its "
            f"recipe, and this base was made by {made}",
            hint=f"use --mode head (any base), or compile {RECIPE} (sdk compile {RECIPE}) and finetune that",
        )
    where = origin if origin and (Path(origin) / "recipe.py").is_file() else RECIPE
    try:
        return load_recipe(where)
    except ModelNotFound as exc:
        raise InvalidInput(
            f"finetune rebuilds {manifest.ref} in torch from the {RECIPE} recipe, which is not found: {exc.message}",
            hint="run from the aiaas project root (where models/minilm_l6 is)",
        ) from exc


def _check_weights(base: Base, encoder: Any) -> None:
    from sdk.compile.torch_export import weights_sha256

    expected = base.manifest.source.sha256
    got = weights_sha256(encoder)
    if expected != got:
        raise InvalidInput(
            f"{base.manifest.ref} was compiled from other weights than the {RECIPE} recipe loads here "
            f"(manifest sha256 {expected[:16] or 'none'}…, installed {got[:16]}…)",
            hint=f"install the weights it was made from, or compile {RECIPE} again here and finetune that",
        )


def _tokens(base: Base, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """The examples tokenized by the base's own processors (what the artifact does with raw text), one padded batch."""
    processors = base.model.processors
    assert processors is not None
    return dict(processors.encode(list(texts)).feeds)


def _rows(inputs: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    """``index`` rows, cut to their longest real token (a batch of short texts runs short)."""
    rows = {k: v[index] for k, v in inputs.items()}
    length = max(1, int(rows["attention_mask"].sum(axis=1).max()))
    return {k: np.ascontiguousarray(v[:, :length]) for k, v in rows.items()}


def _tensors(torch: Any, inputs: Mapping[str, np.ndarray]) -> tuple[Any, Any]:
    return torch.from_numpy(inputs["input_ids"]), torch.from_numpy(inputs["attention_mask"])


def _embed(torch: Any, encoder: Any, inputs: Mapping[str, np.ndarray], progress: Progress | None = None) -> np.ndarray:
    encoder.eval()
    total = len(inputs["input_ids"])
    out = []
    with torch.no_grad():
        for start in range(0, total, 32):
            out.append(encoder(*_tensors(torch, _rows(inputs, np.arange(start, min(start + 32, total))))).numpy())
            if progress is not None:
                progress("embed", min(start + 32, total), total)
    return np.concatenate(out).astype(np.float32)


def _train(
    torch: Any,
    encoder: Any,
    inputs: Mapping[str, np.ndarray],
    labels: Sequence[str],
    *,
    layers: int,
    epochs: int,
    seed: int,
    progress: Progress | None,
) -> tuple[int, int]:
    """Contrastive training of the last ``layers`` layers; returns (steps, pairs seen)."""
    torch.manual_seed(seed)  # dropout
    rng = np.random.default_rng(seed)
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    blocks = encoder.bert.encoder.layer
    trained = [p for block in blocks[len(blocks) - layers :] for p in block.parameters()]
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trained, lr=LEARNING_RATE)
    plan = [b for _ in range(epochs) for b in class_batches(labels, batch=BATCH, run=RUN, rng=rng)][:MAX_STEPS]
    codes = np.unique(np.asarray(labels), return_inverse=True)[1]
    encoder.train()
    pairs = 0
    for step, batch in enumerate(plan, start=1):
        embedding = encoder(*_tensors(torch, _rows(inputs, batch)))
        cosine = embedding @ embedding.T  # unit vectors
        same = torch.from_numpy(codes[batch][:, None] == codes[batch][None, :])
        upper = torch.triu(torch.ones_like(same), diagonal=1)
        positive, negative = same & upper, ~same & upper
        loss = embedding.new_zeros(())
        for mask, target in ((positive, 1.0), (negative, 0.0)):
            if mask.any():
                loss = loss + ((cosine[mask] - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        pairs += len(batch) * (len(batch) - 1) // 2
        if progress is not None:
            progress("train", step, len(plan))
    encoder.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return len(plan), pairs


def _classifier(torch: Any, encoder: Any, head: heads.Head) -> Any:
    """Encoder and head as one module: (input_ids, attention_mask) -> (probabilities, embedding)."""

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            for name in ("mean", "scale", "weights", "bias"):
                self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(getattr(head, name))))

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            embedding = self.encoder(input_ids, attention_mask)
            scores = ((embedding - self.mean) * self.scale) @ self.weights + self.bias
            return torch.softmax(scores, dim=1), embedding

    return Classifier().eval()


def _source(
    torch: Any,
    base: Base,
    recipe: Recipe,
    model: Any,
    head: heads.Head,
    examples: Examples,
    general: Mapping[str, np.ndarray],
    name: str,
    seed: int,
) -> CompileSource:
    """What ``sdk.compile`` needs: export and run the module; held-out inputs (examples and the recipe's general
    sentences); the int8 gate on top-1 agreement with the torch model; the base's tokenizer and text processor."""
    from sdk.compile.sources import dynamic_axes
    from sdk.compile.torch_export import export_torch, run_torch, weights_sha256

    names = ("probabilities", "embedding")
    k = len(head.labels)
    outputs = (
        TensorSpec(name="probabilities", dtype="float32", shape=(-1, k), dim_names=("batch", None)),
        TensorSpec(name="embedding", dtype="float32", shape=(-1, 384), dim_names=("batch", None)),
    )
    texts = examples.items[:PARITY_EXAMPLES]
    held = _padded([_tokens(base, texts), dict(general)])
    reference = run_torch(model, held, names)["probabilities"].argmax(axis=1)

    def score(outputs: Mapping[str, np.ndarray]) -> dict[str, float]:
        return {"agreement": float((outputs["probabilities"].argmax(axis=1) == reference).mean())}

    text = base.manifest.processors.text if base.manifest.processors is not None else None
    example = {key: value[:1] for key, value in held.items()}
    return CompileSource(
        name=name,
        framework="pytorch",
        task="classification",
        description=f"{base.manifest.ref} finetuned on {len(examples)} examples of {k} classes "
        f"({', '.join(head.labels[:5])}{', ...' if k > 5 else ''}) (sdk adapt, finetune mode)",
        inputs=recipe.inputs,
        outputs=outputs,
        quality=QualityGate(metric="agreement", max_drop=INT8_MAX_DROP),
        labels=head.labels,
        classify_output="probabilities",
        transformer=recipe.transformer,
        processors=ProcessorsSpec(
            text=text, output=OutputSpec(kind="classes", output="probabilities", top_k=min(3, k))
        ),
        framework_version=torch.__version__,
        recipe=f"sdk adapt {base.manifest.ref} --mode finetune --data {examples.source.name}",
        weights_sha256=weights_sha256(model),
        export=lambda: export_torch(
            model, example, output_names=names, dynamic_axes=dynamic_axes(outputs) | dynamic_axes(recipe.inputs)
        ),
        run=lambda feeds: run_torch(model, feeds, names),
        evaluation=Evaluation(held, score),
        files=shared_files(base),
        raw_evaluation=recipe.raw_evaluation(seed) if recipe.raw_evaluation else None,
    )


def _padded(batches: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Token batches joined into one, padded with 0 to the longest."""
    length = max(b["input_ids"].shape[1] for b in batches)
    return {
        key: np.concatenate([np.pad(b[key], ((0, 0), (0, length - b[key].shape[1]))) for b in batches]).astype(np.int64)
        for key in ("input_ids", "attention_mask")
    }


def _check_raw_text(torch: Any, loaded: LoadedModel, model: Any, base: Base, texts: Sequence[str]) -> None:
    """The written folder, as ``sdk.load`` runs it from raw text, against the torch module on the same texts."""
    from sdk.compile.torch_export import run_torch

    assert loaded.processors is not None
    got = loaded(loaded.processors.encode(list(texts)).feeds)["probabilities"]
    expected = run_torch(model, _tokens(base, texts), ("probabilities",))["probabilities"]
    worst = float(np.abs(got - expected).max())
    if not worst <= CHECK_TOLERANCE:
        raise ParityFailure(
            f"the finetuned artifact, loaded from raw text, differs from the finetuned model by {worst:.3g} "
            f"(tolerance {CHECK_TOLERANCE:g}); nothing was written",
            hint="run again with --verbose and report it: a written artifact that does not compute what was trained "
            "is our fault",
        )
