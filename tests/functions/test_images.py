"""What can be checked of the container images without a Docker engine, and the SageMaker entry point itself."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from functions.sagemaker_gpu import serve as sagemaker

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = {
    "lambda": REPO / "functions" / "aws_lambda" / "Dockerfile",
    "sagemaker": REPO / "functions" / "sagemaker_gpu" / "Dockerfile",
}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("image", list(DOCKERFILES))
def test_base_image_is_pinned(image: str) -> None:
    bases = [rest.split()[0] for keyword, rest in _instructions(DOCKERFILES[image]) if keyword == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        name, _, tag = base.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", f"{base} must name a version tag (or a digest)"
    expected = {"lambda": "public.ecr.aws/lambda/python:", "sagemaker": "nvidia/cuda:"}[image]
    assert bases[-1].startswith(expected)
    if image == "sagemaker":
        assert "-runtime-" in bases[-1] and "cudnn" in bases[-1]


@pytest.mark.parametrize("image", list(DOCKERFILES))
def test_extras_installed_exist_in_pyproject(image: str) -> None:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {
        extra.strip()
        for _, rest in _instructions(DOCKERFILES[image])
        for group in re.findall(r"\[([a-z0-9_,\- ]+)\]\"", rest)
        for extra in group.split(",")
    }
    assert named, "the image installs no extra"
    assert named <= extras, f"extras {sorted(named - extras)} are not in pyproject.toml"
    if image == "sagemaker":
        assert "gpu" in named and "edge" not in named and "functions" not in named  # never onnxruntime beside -gpu
    else:
        assert named == {"functions"}


@pytest.mark.parametrize("image", list(DOCKERFILES))
def test_copied_sources_and_entrypoint_exist(image: str) -> None:
    instructions = _instructions(DOCKERFILES[image])
    for keyword, rest in instructions:
        if keyword == "COPY":
            for source in rest.split()[:-1]:
                if not source.startswith("--"):
                    assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    if image == "lambda":
        (cmd,) = [rest for keyword, rest in instructions if keyword == "CMD"]
        module, _, function = cmd.strip('[]"').rpartition(".")
        assert (REPO / (module.replace(".", "/") + ".py")).is_file()
        assert function == "handler"
    else:
        (entry,) = [rest for keyword, rest in instructions if keyword == "ENTRYPOINT"]
        assert "functions.sagemaker_gpu.serve" in entry
        assert (REPO / "functions" / "sagemaker_gpu" / "serve.py").is_file()
        assert ("EXPOSE", "8080") in instructions


def test_sagemaker_image_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in _instructions(DOCKERFILES["sagemaker"]) if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_lambda_image_says_why_it_has_no_user() -> None:
    # Lambda runs every function as its own unprivileged user; its base image cannot add one.
    assert "unprivileged user" in DOCKERFILES["lambda"].read_text()


def test_sagemaker_entry_serves_the_model_dir_on_8080(
    digits_artifact: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = {}

    def fake_run(service, **options):
        calls.update(options, service=service)
        options["on_ready"]("http://0.0.0.0:8080")

    monkeypatch.setattr(sagemaker.http, "run", fake_run)
    monkeypatch.delenv("MODEL_URI", raising=False)
    monkeypatch.setenv("SM_MODEL_DIR", str(digits_artifact))
    assert sagemaker.main(["serve"]) == 0
    assert calls["host"] == "0.0.0.0" and calls["port"] == 8080
    assert calls["service"].batcher is not None and calls["service"].ready
    out = capsys.readouterr().out
    assert "digits-cnn@1: onnxruntime" in out and "serving at http://0.0.0.0:8080" in out
    ping = calls["service"].handle("GET", "/ping", {}, b"")
    assert ping.status == 200


def test_sagemaker_entry_refuses_other_commands() -> None:
    assert sagemaker.main(["train"]) == 2


def test_sagemaker_entry_refuses_a_model_dir_with_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint whose model archive held no artifact must fail to start, not pass /ping and answer 404."""
    from sdk.errors import ConfigError

    started = []
    monkeypatch.setattr(sagemaker.http, "run", lambda service, **options: started.append(service))
    monkeypatch.delenv("MODEL_URI", raising=False)
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"SM_MODEL_DIR=.* holds no model"):
        sagemaker.main(["serve"])
    monkeypatch.setenv("MODEL_URI", str(tmp_path / "typo"))
    with pytest.raises(ConfigError, match=r"MODEL_URI .*typo: no such folder"):
        sagemaker.main(["serve"])
    assert not started


def test_sagemaker_entry_without_the_server_stack_fails_before_loading_models(
    digits_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image built without uvicorn says so at once, with the install, instead of loading every model first."""
    from sdk.errors import MissingDependency

    loaded = []
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what an image without the extra imports
    monkeypatch.setattr(sagemaker, "build_service", lambda *args, **kwargs: loaded.append(args))
    monkeypatch.delenv("MODEL_URI", raising=False)
    monkeypatch.setenv("SM_MODEL_DIR", str(digits_artifact))
    with pytest.raises(MissingDependency, match="'uvicorn' package") as caught:
        sagemaker.main(["serve"])
    assert caught.value.command == 'pip install "aiaas-sdk[serve]"'
    assert not loaded
