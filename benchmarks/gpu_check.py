"""GPU check for a lent NVIDIA machine: the PyTorch reference models on CUDA in fp32 and fp16 against the fp32 ONNX
artifacts run by ONNX Runtime on the CPU, and MiniLM's torch fp16 throughput that a TensorRT engine must beat.

The lent machine has PyTorch + CUDA, transformers and a CPU-only onnxruntime, nothing else installable, and takes at
most 64 MiB per call. So the work is split:

    # here (CPU): train/load each PyTorch recipe, run its fp32 ONNX artifact in ONNX Runtime on held-out real inputs,
    # and write a bundle: each model's weights (.npz; MiniLM's in fp16 to fit) and what rebuilds it (its class in
    # this repo's models/, and for MiniLM the BERT config), its inputs and the ORT outputs
    python benchmarks/gpu_check.py prepare --out gpu_bundle [--models digits-cnn,sunspots-lstm,minilm-l6]

    # on the GPU machine, from a copy of this repo (torch and numpy; transformers for MiniLM): rebuild each model on
    # the device, load its weights, compare and time
    python benchmarks/gpu_check.py run --bundle gpu_bundle [--device cuda]

Why not TorchScript (the first version of this script): a trace made on the CPU keeps ``device=cpu`` constants (the
LSTM's initial state, BERT's attention-mask constants) and failed on an H200 ("Input and hidden tensors are not at
the same device"). A module rebuilt on the device from its code takes every device from its inputs and weights.

`run` prints one table: per model and precision, max |diff| against ORT fp32 on the CPU (and mean cosine for
embeddings), which is the fp16 parity a TensorRT fp16 engine would face; then MiniLM fp16 throughput at 1x128 and
32x128 (CUDA events, medians). `--device cpu` runs the same logic here, as a smoke test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODELS = ("digits-cnn", "sunspots-lstm", "digits-transformer", "minilm-l6")
QUICK_EPOCHS = {"digits-cnn": 5, "sunspots-lstm": 20, "digits-transformer": 3}  # parity, not accuracy, is checked
HALF_IN_BUNDLE = {"minilm-l6"}  # 90 MB in fp32: shipped as fp16 so the bundle fits one 64 MiB transfer
BUNDLE_LIMIT = 64 * 2**20


def build_spec(module: Any) -> dict[str, Any]:
    """What rebuilds ``module`` elsewhere: its class (constructed with no arguments, as the recipes do) and, for a
    module wrapping a transformers model in ``.bert`` (MiniLM), that model's config."""
    cls = type(module)
    spec: dict[str, Any] = {"class": f"{cls.__module__}:{cls.__qualname__}"}
    config = getattr(getattr(module, "bert", None), "config", None)
    if config is not None:
        spec["transformers_config"] = config.to_dict()
        spec["attn_implementation"] = getattr(config, "_attn_implementation", None) or "eager"
    return spec


def build(spec: Mapping[str, Any], weights: Path, device: str) -> Any:
    """The bundled model rebuilt on ``device`` and loaded with its weights. Loading is strict: a class whose tensors
    differ in name or shape from the bundled ones fails here, not with wrong numbers later."""
    import torch

    module_name, _, qualname = spec["class"].partition(":")
    cls = getattr(importlib.import_module(module_name), qualname)
    with torch.device(device):
        if "transformers_config" in spec:
            from transformers import AutoConfig, AutoModel

            settings = dict(spec["transformers_config"])
            config = AutoConfig.for_model(settings.pop("model_type"), **settings)
            module = cls(AutoModel.from_config(config, attn_implementation=spec["attn_implementation"]))
        else:
            module = cls()
    with np.load(weights, allow_pickle=False) as archive:
        state = {k: torch.tensor(archive[k]) for k in archive.files}
    module.load_state_dict(state)
    return module.eval()


def load_model(bundle: Path, name: str, device: str) -> Any:
    """Model ``name`` of ``bundle``, rebuilt on ``device`` (this repo's ``models`` must be importable)."""
    index = json.loads((bundle / "index.json").read_text())
    return build(index[name]["build"], bundle / f"{name}.weights.npz", device)


def _outputs(result: Any) -> tuple[Any, ...]:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _save(path: Path, arrays: Mapping[str, Any]) -> None:
    np.savez(path, **dict(arrays))


def prepare(out: Path, models: list[str], repo: Path = REPO) -> None:
    import torch

    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    from sdk.compile.recipe import load_recipe
    from sdk.compile.sources import dynamic_axes
    from sdk.compile.torch_export import export_torch, run_onnx

    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for name in models:
        recipe = load_recipe(name, root=repo)
        trained = recipe.train(seed=0, epochs=QUICK_EPOCHS.get(name), progress=False)
        module = trained.model.eval()
        inputs = {k: np.ascontiguousarray(v) for k, v in recipe.evaluation(0).inputs.items()}
        example = {k: v[:2] for k, v in inputs.items()}
        onnx_bytes = export_torch(module, example, output_names=recipe.output_names, dynamic_axes=dynamic_axes(recipe))
        reference = run_onnx(onnx_bytes, inputs)
        half = name in HALF_IN_BUNDLE
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        weights = out / f"{name}.weights.npz"
        _save(weights, {k: (v.half() if half and v.is_floating_point() else v).numpy() for k, v in state.items()})
        entry: dict[str, Any] = {
            "inputs": list(inputs),
            "outputs": list(reference),
            "weights": "fp16" if half else "fp32",
            "build": build_spec(module),
        }
        # Rebuild it here, before it travels: an fp32 bundle must give the very outputs of the module it came from.
        rebuilt = build(entry["build"], weights, "cpu")
        with torch.no_grad():
            feeds = [torch.from_numpy(v) for v in example.values()]
            drift = max(float((a - b).abs().max()) for a, b in zip(_outputs(rebuilt(*feeds)), _outputs(module(*feeds))))
        if not half and drift != 0.0:
            raise RuntimeError(f"{name}: the model rebuilt from the bundle differs from the trained one by {drift:.3g}")
        _save(out / f"{name}.inputs.npz", inputs)
        _save(out / f"{name}.ort_fp32.npz", reference)
        index[name] = entry
        print(f"prepared {name}: {weights.stat().st_size / 1e6:.1f} MB of {entry['weights']} weights, "
              f"{len(next(iter(inputs.values())))} held-out samples, rebuilt here within {drift:.2g}")  # fmt: skip
    (out / "index.json").write_text(json.dumps(index, indent=2))
    total = sum(p.stat().st_size for p in out.iterdir())
    over = " (over the 64 MiB a call carries)" if total > BUNDLE_LIMIT else ""
    print(f"bundle {out}: {total / 2**20:.1f} MiB{over}")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def _error(name: str, precision: str, exc: Exception) -> dict[str, Any]:
    return {"model": name, "precision": precision, "error": str(exc).strip().splitlines()[-1][:160]}


def run(bundle: Path, device: str, repo: Path = REPO) -> list[dict[str, Any]]:
    import torch

    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    index = json.loads((bundle / "index.json").read_text())
    rows: list[dict[str, Any]] = []
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))  # fmt: skip
    for name, entry in index.items():
        inputs = dict(np.load(bundle / f"{name}.inputs.npz"))
        reference = dict(np.load(bundle / f"{name}.ort_fp32.npz"))
        try:
            module = load_model(bundle, name, device)
        except (ImportError, RuntimeError) as exc:  # e.g. transformers missing, or a class that no longer matches
            rows.append(_error(name, "fp32/fp16", exc))
            continue
        for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            module = module.to(dtype)
            feeds = [torch.from_numpy(v).to(device) for v in inputs.values()]
            feeds = [f.to(dtype) if f.is_floating_point() else f for f in feeds]
            try:
                with torch.no_grad():
                    results = _outputs(module(*feeds))
            except RuntimeError as exc:  # e.g. a kernel with no fp16 version on this device
                rows.append(_error(name, precision, exc))
                continue
            outputs = {n: r.float().cpu().numpy() for n, r in zip(entry["outputs"], results)}
            diffs = {n: float(np.max(np.abs(outputs[n] - reference[n]))) for n in entry["outputs"]}
            row = {
                "model": name,
                "precision": precision,
                "weights in bundle": entry["weights"],
                "max |diff| vs ORT fp32 (CPU)": max(diffs.values()),
            }
            if name == "minilm-l6":
                row["mean cosine vs ORT fp32"] = _cosine(outputs["embedding"], reference["embedding"])
            rows.append(row)
    for row in rows:
        print(" | ".join(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items()))
    if "minilm-l6" in index:
        throughput(bundle, device)
    return rows


def throughput(bundle: Path, device: str, runs: int | None = None) -> None:
    import torch

    runs = runs or (100 if device == "cuda" else 3)  # on the CPU a smoke test of the code path, not a measurement
    dtype = torch.float16 if device == "cuda" else torch.float32
    module = load_model(bundle, "minilm-l6", device).to(dtype)
    for batch, seq in ((1, 128), (32, 128)):
        ids = torch.randint(1000, 20000, (batch, seq), device=device)
        mask = torch.ones(batch, seq, dtype=torch.int64, device=device)
        times = []
        with torch.no_grad():
            for _ in range(10):
                module(ids, mask)
            for _ in range(runs):
                if device == "cuda":
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    module(ids, mask)
                    end.record()
                    torch.cuda.synchronize()
                    times.append(start.elapsed_time(end))
                else:
                    began = time.perf_counter()
                    module(ids, mask)
                    times.append((time.perf_counter() - began) * 1000)
        ms = statistics.median(times)
        print(f"minilm-l6 torch {str(dtype).split('.')[-1]} {batch}x{seq}: {ms:.3f} ms median, "
              f"{batch / ms * 1000:.0f} sequences/s ({runs} runs)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="build the bundle here (CPU)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--repo", type=Path, default=REPO)
    r = sub.add_parser("run", help="compare and time on the GPU machine")
    r.add_argument("--bundle", type=Path, required=True)
    r.add_argument("--device", default="cuda")
    r.add_argument("--repo", type=Path, default=REPO, help="the repo whose models/ rebuilds the bundled models")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.out, [m.strip() for m in args.models.split(",") if m.strip()], args.repo)
    else:
        run(args.bundle, args.device, args.repo)


if __name__ == "__main__":
    main()
