"""``--build-image``: build the function's container image with the local Docker engine and push it to ECR.

The image is tagged by its content (``sdk-`` + the start of the image ID), so an unchanged build is not pushed again
and ECR's immutable tags never collide. The repository is the one the function (or the endpoint's model) already runs
from. Without a Docker engine the step is skipped with the reason, never failed: the model still deploys on the
image already in place.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sdk._record import record
from sdk.artifacts.aws_errors import aws_errors, if_exists
from sdk.errors import ConfigError

DOCKERFILES = {"lambda": "functions/aws_lambda/Dockerfile", "sagemaker": "functions/sagemaker_gpu/Dockerfile"}
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


def docker_unavailable(docker: str = "docker") -> str | None:
    """Why no image can be built here (one line), or None when a Docker engine answers."""
    binary = shutil.which(docker)
    if binary is None:
        return f"no Docker engine: `{docker}` is not on PATH"
    try:
        done = subprocess.run(
            [binary, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no Docker engine: `{docker} info` did not answer ({exc})"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"no Docker engine: `{docker} info` failed ({lines[-1] if lines else f'exit {done.returncode}'})"
    return None


def repository_of(image_uri: str) -> str:
    """``ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`` of an image URI with a tag or a digest."""
    name = image_uri.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


@record
class ImageBuilder:
    """Builds ``dockerfile`` in ``context`` and pushes it to ``repository`` (an ECR repository URI)."""

    ecr: Any
    repository: str
    dockerfile: Path
    context: Path
    platform: str = "linux/amd64"
    docker: str = "docker"

    def build_and_push(self) -> tuple[str, bool]:
        """(image URI, whether it was pushed now) of the built image."""
        if not self.dockerfile.is_file():
            raise ConfigError(
                f"{self.dockerfile} does not exist", hint="run `sdk deploy --build-image` from the repository root"
            )
        with tempfile.TemporaryDirectory() as tmp:
            iidfile = Path(tmp) / "iid"
            self._docker(
                "build", "--platform", self.platform, "--provenance=false", "-f", str(self.dockerfile),
                "--iidfile", str(iidfile), str(self.context),
            )  # fmt: skip
            image_id = iidfile.read_text().strip()
        tag = "sdk-" + image_id.split(":")[-1][:16]
        uri = f"{self.repository}:{tag}"
        if self._tag_exists(tag):
            return uri, False
        self._docker("tag", image_id, uri)
        self._login()
        self._docker("push", uri)
        return uri, True

    def _tag_exists(self, tag: str) -> bool:
        name = self.repository.split("/", 1)[1]
        found = if_exists(
            lambda: self.ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}]),
            f"reading ECR repository {name}",
        )
        return found is not None and bool(found.get("imageDetails"))

    def _login(self) -> None:
        with aws_errors("getting an ECR login token"):
            data = self.ecr.get_authorization_token()["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        registry = self.repository.split("/", 1)[0]
        self._docker("login", "--username", user, "--password-stdin", registry, stdin=password)

    def _docker(self, *args: str, stdin: str | None = None) -> str:
        binary = shutil.which(self.docker) or self.docker
        done = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise ConfigError(
                f"`docker {args[0]}` failed: {lines[-1] if lines else f'exit {done.returncode}'}",
                hint="run the same docker command by hand to see the full output",
            )
        return done.stdout
