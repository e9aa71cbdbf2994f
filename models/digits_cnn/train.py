"""Train the digits CNN, export it to ONNX, gate it on parity with PyTorch, and write the artifact folder.

    python -m models.digits_cnn.train --out sdk/_embedded/digits-cnn/1

Seeded end to end (data split, initialisation, batch order, single-threaded kernels): the same seed, torch version
and instruction set give the same weights, so the shipped artifact can be rebuilt. Another instruction set (AVX2 vs
AVX-512) picks other float kernels: the weights then differ in the last bits and the model agrees with the shipped one
in accuracy and predictions, not bit for bit. The manifest records the training CPU (``source.cpu``) to tell which.
The shipped artifact predates that record: it was trained with torch's AVX2 kernels (``SHIPPED_ISA``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.digits_cnn import images
from models.digits_cnn.data import DESCRIPTION, INPUTS, LABELS, NAME, OUTPUTS, load_split
from models.digits_cnn.model import DigitsCNN
from models.torch_training import epoch_bar
from sdk.artifacts import Manifest, Source
from sdk.artifacts.cpu import this_cpu_record
from sdk.artifacts.processors_schema import ProcessorsSpec
from sdk.compile import ArtifactWriter, check_parity
from sdk.compile.processor_gate import check_processors
from sdk.compile.torch_export import DEFAULT_OPSET, export_torch, run_onnx, run_torch, weights_sha256
from sdk.runtime.processors import Processors

OUTPUT_NAMES = tuple(spec.name for spec in OUTPUTS)
PARITY_TOLERANCE = 1e-4
# The instruction set torch trained the shipped sdk/_embedded/digits-cnn/1 with (its manifest predates source.cpu):
# on an AVX-512 machine, ATEN_CPU_CAPABILITY=avx2 retrains its exact weights (checked 2026-11-30).
SHIPPED_ISA = "avx2"


def train(*, seed: int = 0, epochs: int = 40, progress: bool = True) -> tuple[DigitsCNN, float]:
    """Train and return (model, test accuracy)."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic reductions
    try:
        split = load_split(seed)
        model = DigitsCNN()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        loss_fn = nn.CrossEntropyLoss()
        x = torch.from_numpy(split.x_train)
        y = torch.from_numpy(split.y_train)
        generator = torch.Generator().manual_seed(seed)
        with epoch_bar(f"train {NAME}", epochs, enabled=progress) as epoch_done:
            for _ in range(epochs):
                model.train()
                order = torch.randperm(len(x), generator=generator)
                total = 0.0
                for start in range(0, len(x), 64):
                    idx = order[start : start + 64]
                    optimizer.zero_grad()
                    logits, _ = model(x[idx])
                    loss = loss_fn(logits, y[idx])
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(idx)
                scheduler.step()
                epoch_done(total / len(x))
        accuracy = evaluate(model, split.x_test, split.y_test)
    finally:
        torch.set_num_threads(threads)
    return model, accuracy


def evaluate(model: DigitsCNN, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(x))
    return float((logits.argmax(-1).numpy() == y).mean())


def build_artifact(model: DigitsCNN, out: Path, *, version: str, accuracy: float, seed: int) -> Manifest:
    """Export, run the parity gate on the whole test split, and write the artifact folder."""
    split = load_split(seed)
    model.eval()
    onnx_bytes = export_torch(
        model,
        {"image": split.x_test[:1]},
        output_names=OUTPUT_NAMES,
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "probabilities": {0: "batch"}},
    )
    inputs = {"image": split.x_test}
    parity = check_parity(
        run_torch(model, inputs, OUTPUT_NAMES),
        run_onnx(onnx_bytes, inputs),
        tolerance=PARITY_TOLERANCE,
        reference_name=f"pytorch {torch.__version__} fp32",
        classify_output="logits",
    )
    if out.exists():
        shutil.rmtree(out)
    writer = ArtifactWriter(
        out,
        name=NAME,
        version=version,
        source=Source(
            framework="pytorch",
            framework_version=torch.__version__,
            recipe="models/digits_cnn",
            sha256=weights_sha256(model),
            cpu=this_cpu_record(),  # main() and the tests train and build in one process: this CPU trained it
        ),
        inputs=INPUTS,
        outputs=OUTPUTS,
        task="classification",
        description=DESCRIPTION,
        labels=LABELS,
        metrics={"test_accuracy": round(accuracy, 4), "test_samples": float(len(split.y_test)), "seed": float(seed)},
        processors=checked_processors(seed),
    )
    writer.add_model(
        onnx_bytes,
        file="model.onnx",
        parity=parity,
        precision="fp32",
        target={"runtime": "onnxruntime", "opset": DEFAULT_OPSET, "device": "cpu"},
    )
    return writer.write()


def checked_processors(seed: int) -> ProcessorsSpec:
    """The recipe's processors (PNG in, top-3 digits out) with their gate's result on the held-out digits as PNGs."""
    spec = images.processors("image", "NCHW")
    processors = Processors(spec, model=NAME, inputs=INPUTS, labels=LABELS, files={})
    gate = check_processors(processors, images.raw_evaluation(seed, "image", "NCHW"))
    gate.raise_if_failed(NAME)
    return dataclasses.replace(spec, parity=gate.to_manifest())


def write_samples(folder: Path, seed: int, labels: tuple[int, ...] = (0, 3, 7, 9)) -> list[Path]:
    """The first held-out test digit of each of ``labels``, as .npy, .json and .png, for `sdk predict` and the
    README."""
    split = load_split(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for label in labels:
        i = int(np.flatnonzero(split.y_test == label)[0])
        image = split.x_test[i : i + 1]
        npy = folder / f"digit_{label}.npy"
        np.save(npy, image)
        (folder / f"digit_{label}.json").write_text(json.dumps({"image": image.round(4).tolist()}) + "\n")
        (folder / f"digit_{label}.png").write_bytes(images.png_bytes(image))
        written.append(npy)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("sdk/_embedded/digits-cnn/1"), help="artifact folder to write")
    parser.add_argument("--version", default="1")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=Path, default=None, help="also write held-out sample inputs here")
    args = parser.parse_args(argv)
    model, accuracy = train(seed=args.seed, epochs=args.epochs)
    manifest = build_artifact(model, args.out, version=args.version, accuracy=accuracy, seed=args.seed)
    parity = manifest.artifacts[0].parity
    assert parity is not None  # build_artifact always runs the gate
    print(f"{manifest.ref}: test accuracy {accuracy:.4f}; parity max|diff| {parity.value:.2e} -> {args.out}")
    if args.samples:
        write_samples(args.samples, args.seed)


if __name__ == "__main__":
    main()
