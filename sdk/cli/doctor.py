"""`sdk doctor`: what this machine offers aiaas (extras, execution providers, GPUs, tools, credentials)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from sdk._version import __version__
from sdk.artifacts import open_store
from sdk.cli._base import console
from sdk.cli.options import JsonOption, StoreOption

# extra -> (distribution to look for, what it enables)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "edge": (("onnxruntime",), "run models on this device (sdk predict, the edge route)"),
    "gpu": (("onnxruntime-gpu", "tensorrt"), "CUDA / TensorRT serving on an NVIDIA GPU"),
    "aws": (("boto3",), "deploy to S3/Lambda/SageMaker, SigV4 signing"),
    "functions": (("aws-lambda-powertools",), "the Lambda handler"),
    "compile": (("torch", "onnx", "onnxscript"), "export and optimize models (sdk compile)"),
    "tf": (("tensorflow-cpu", "tf2onnx"), "compile Keras / TensorFlow models"),
    "sign": (("cryptography",), "sign manifests and load only signed models (sdk keys, sdk sign)"),
    "openvino": (("openvino", "nncf"), "OpenVINO as a second CPU engine, chosen by speed; static int8 in sdk compile"),
    "text": (("tokenizers",), "raw text in, through a model's tokenizer (sdk predict --text)"),
    "images": (("pillow",), "PNG/JPEG in, through a model's image processor (sdk predict --image)"),
}


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _run(*cmd: str) -> str | None:
    if not shutil.which(cmd[0]):
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _providers() -> dict[str, Any]:
    if importlib.util.find_spec("onnxruntime") is None:
        return {"installed": False}
    import onnxruntime

    from sdk.runtime.providers import plan_providers, probe_machine

    available = onnxruntime.get_available_providers()
    plan = plan_providers(("auto",), available, probe_machine())
    return {"installed": True, "available": available, "auto_plan": list(plan.providers), "notes": list(plan.notes)}


def _gpus() -> list[str]:
    listing = _run("nvidia-smi", "-L")
    return [line for line in (listing or "").splitlines() if line.strip()]


def _credentials() -> str:
    """Where AWS credentials would come from; never the credentials themselves."""
    if importlib.util.find_spec("botocore") is not None:
        import botocore.session

        creds = botocore.session.Session().get_credentials()
        return f"found ({creds.method})" if creds is not None else "none found"
    # AWS's own variables, only named (never read as settings): botocore reads them, and it is not installed here.
    found = [v for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE") if os.environ.get(v)]
    return f"set in environment ({', '.join(found)}); install aiaas-sdk[aws] to use them" if found else "none found"


def _install_command(extra: str) -> str:
    if extra == "gpu" and installed_version("onnxruntime"):
        # onnxruntime and onnxruntime-gpu install the same module: never both in one environment.
        return 'pip uninstall -y onnxruntime && pip install "aiaas-sdk[gpu]"'
    return f'pip install "aiaas-sdk[{extra}]"'


def collect(store: Path | None) -> dict[str, Any]:
    terraform = _run("terraform", "version", "-json")
    docker_engine = _run("docker", "info", "--format", "{{.ServerVersion}}")
    layered = open_store(store)
    return {
        "aiaas_sdk": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "extras": {
            extra: {
                "installed": all(installed_version(d) for d in dists)
                if extra != "gpu"
                else any(installed_version(d) for d in dists),
                "packages": {d: installed_version(d) for d in dists},
                "for": purpose,
                "install": _install_command(extra),
            }
            for extra, (dists, purpose) in EXTRAS.items()
        },
        "onnxruntime": _providers(),
        "gpus": _gpus(),
        "terraform": json.loads(terraform)["terraform_version"] if terraform else None,
        "docker_engine": docker_engine,
        "aws_credentials": _credentials(),
        "store": {"searched": layered.label, "models": layered.names()},
    }


def doctor(store: Path | None = StoreOption, as_json: bool = JsonOption) -> None:
    """Report what this machine offers: extras, ONNX Runtime providers, GPUs, terraform, Docker, AWS credentials.

    Nothing is changed. Missing pieces are listed with the command that installs them.

    Example: sdk doctor
    """
    report = collect(store)
    if as_json:
        console.print_json(json.dumps(report))
        return
    console.print(f"[bold]aiaas-sdk {report['aiaas_sdk']}[/] · Python {report['python']} · {report['platform']}")
    table = Table("extra", "installed", "for", title="extras", title_justify="left")
    for extra, info in report["extras"].items():
        versions = ", ".join(f"{d} {v}" for d, v in info["packages"].items() if v)
        table.add_row(extra, f"[green]yes[/] ({versions})" if info["installed"] else "[yellow]no[/]", info["for"])
    console.print(table)
    for extra, info in report["extras"].items():
        if not info["installed"]:
            console.print(f"to add {extra}: " + escape(info["install"]))
    ort = report["onnxruntime"]
    if ort["installed"]:
        console.print(f"onnxruntime providers available: {', '.join(ort['available'])}")
        console.print(f"providers aiaas would use (auto): [bold]{', '.join(ort['auto_plan'])}[/]")
        for note in ort["notes"]:
            console.print(f"  [dim]{escape(note)}[/]")
    else:
        console.print("onnxruntime: [yellow]not installed[/] → " + escape('pip install "aiaas-sdk[edge]"'))
    console.print(f"GPUs: {', '.join(report['gpus']) or 'none (no nvidia-smi or no NVIDIA GPU)'}")
    console.print(f"terraform: {report['terraform'] or 'not found on PATH'}")
    console.print(f"docker engine: {report['docker_engine'] or 'not reachable (image builds are skipped)'}")
    console.print(f"AWS credentials: {report['aws_credentials']}")
    models = report["store"]["models"]
    console.print(f"models: {', '.join(models) or 'none'} (searched {report['store']['searched']})")
