"""GPU check for a lent NVIDIA machine: the PyTorch reference models on CUDA in fp32 and fp16 against the fp32 ONNX
artifacts run by ONNX Runtime on the CPU, and MiniLM's torch fp16 throughput that a TensorRT engine must beat.

The lent machine has PyTorch + CUDA and a CPU-only onnxruntime, nothing else installable, and takes at most 64 MiB
per call. So the work is split:

    # here (CPU): train/load each PyTorch recipe, trace it to TorchScript, run its fp32 ONNX artifact in ONNX Runtime
    # on held-out real inputs, and write a bundle (TorchScript files + inputs + ORT outputs; MiniLM in fp16 to fit)
    python benchmarks/gpu_check.py prepare --out gpu_bundle [--models digits-cnn,sunspots-lstm,minilm-l6]

    # on the GPU machine (only torch and numpy needed): compare and time
    python benchmarks/gpu_check.py run --bundle gpu_bundle [--device cuda]

`run` prints one table: per model and precision, max |diff| against ORT fp32 on the CPU (and mean cosine for
embeddings), which is the fp16 parity a TensorRT fp16 engine would face; then MiniLM fp16 throughput at 1x128 and
32x128 (CUDA events, medians). `--device cpu` runs the same logic here, as a smoke test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODELS = ("digits-cnn", "sunspots-lstm", "digits-transformer", "minilm-l6")
QUICK_EPOCHS = {"digits-cnn": 5, "sunspots-lstm": 20, "digits-transformer": 3}  # parity, not accuracy, is checked
HALF_IN_BUNDLE = {"minilm-l6"}  # 90 MB in fp32: shipped as fp16 so the bundle fits one 64 MiB transfer


def prepare(out: Path, models: list[str], repo: Path) -> None:
    import torch

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
        # TorchScript, although deprecated, is what loads on the GPU machine with no model code and no transformers.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, tuple(torch.from_numpy(v) for v in example.values()), strict=False)
        if half:
            traced = traced.half()
        traced.save(str(out / f"{name}.pt"))
        np.savez(out / f"{name}.inputs.npz", **inputs)
        np.savez(out / f"{name}.ort_fp32.npz", **reference)
        index[name] = {"inputs": list(inputs), "outputs": list(reference), "weights": "fp16" if half else "fp32"}
        size = (out / f"{name}.pt").stat().st_size / 1e6
        print(f"prepared {name}: {size:.1f} MB TorchScript, {len(next(iter(inputs.values())))} held-out samples")
    (out / "index.json").write_text(json.dumps(index, indent=2))
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"bundle {out}: {total / 2**20:.1f} MiB")


def _load(path: Path, device: str) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript: see prepare()
        return torch.jit.load(str(path), map_location=device)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def run(bundle: Path, device: str) -> list[dict[str, Any]]:
    import torch

    index = json.loads((bundle / "index.json").read_text())
    rows = []
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""))  # fmt: skip
    for name, entry in index.items():
        inputs = dict(np.load(bundle / f"{name}.inputs.npz"))
        reference = dict(np.load(bundle / f"{name}.ort_fp32.npz"))
        module = _load(bundle / f"{name}.pt", device).eval()
        for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            module = module.to(dtype)
            feeds = [torch.from_numpy(v).to(device) for v in inputs.values()]
            feeds = [f.to(dtype) if f.is_floating_point() else f for f in feeds]
            try:
                with torch.no_grad():
                    result = module(*feeds)
            except RuntimeError as exc:  # e.g. a traced graph with fp32 constants that .to(half) cannot reach
                rows.append({"model": name, "precision": precision, "error": str(exc).strip().splitlines()[-1][:120]})
                continue
            results = result if isinstance(result, (tuple, list)) else (result,)
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


def throughput(bundle: Path, device: str, runs: int = 100) -> None:
    import torch

    module = _load(bundle / "minilm-l6.pt", device).eval()
    dtype = torch.float16 if device == "cuda" else torch.float32
    module = module.to(dtype)
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
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    r = sub.add_parser("run", help="compare and time on the GPU machine")
    r.add_argument("--bundle", type=Path, required=True)
    r.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.out, [m.strip() for m in args.models.split(",") if m.strip()], args.repo)
    else:
        run(args.bundle, args.device)


if __name__ == "__main__":
    main()
