"""Tiny packages trained once per session, and real servers started as users start them.

Every server is `python -m trainforge.cli serve ...` in a subprocess on a free loopback port;
tests talk to it over HTTP.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import trainforge

REPO = Path(__file__).resolve().parents[2]
REVIEWS = REPO / "examples" / "data" / "reviews"
TEXT_MAX_LENGTH = 32


class Server:
    """A running `trainforge serve` process (or another serving command) and its base URL."""

    def __init__(
        self,
        model_dir: Path,
        *options: str,
        env: dict[str, str] | None = None,
        command: str = "serve",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = model_dir.parent / f"server-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "trainforge.cli",
            command,
            str(model_dir),
            "--port",
            str(self.port),
            "--no-access-log",
            *options,
        ]
        environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=REPO
            )

    def wait_ready(self, timeout: float = 60.0) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v1/ready", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(model_dir: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Start a server, wait until it is ready, stop it afterwards (for fixtures)."""
    server = Server(model_dir, *options, env=env)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def iris_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MLP on iris (a couple of epochs: seconds)."""
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:iris", "label_column": "target"},
        "model": {"type": "mlp", "hidden_sizes": [8]},
        "train": {"epochs": 2, "batch_size": 32, "seed": 1},
    }
    run = trainforge.train(config, output=tmp_path_factory.mktemp("iris") / "run", progress=False)
    return Path(run.package_dir)


@pytest.fixture(scope="session")
def text_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM fine-tuned for 2 steps on the shipped reviews (a text package, not a good one)."""
    config = {
        "task": "text_classification",
        "data": {
            "train": str(REVIEWS / "train.csv"),
            "validation": str(REVIEWS / "validation.csv"),
            "test": str(REVIEWS / "test.csv"),
        },
        "model": {"backbone": "minilm", "finetune": "full"},
        "train": {
            "max_steps": 2,
            "epochs": 1,
            "batch_size": 8,
            "eval_batch_size": 64,
            "max_length": TEXT_MAX_LENGTH,
        },
    }
    run = trainforge.train(config, output=tmp_path_factory.mktemp("text") / "run", progress=False)
    return Path(run.package_dir)


@pytest.fixture(scope="session")
def iris_rows() -> list[dict[str, float]]:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame.drop(columns="target")
    return [{str(k): float(v) for k, v in row.items()} for row in frame.to_dict("records")]


def copy_package(package: Path, dest: Path) -> Path:
    shutil.copytree(package, dest)
    return dest


def fuzz(server: Server, folder: Path, *options: str) -> None:
    """Run schemathesis (its CLI) on the server: schema-driven valid and invalid requests to
    every route; fails on any 5xx. Seeded and bounded to a few seconds."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--seed",
        "7",
        "--generation-database",
        "none",
        "--no-color",
        "--workers",
        "2",
        *options,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=folder, check=False
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 generated" not in result.stdout
    assert httpx.get(f"{server.url}/v1/ready").status_code == 200
