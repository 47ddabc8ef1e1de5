"""Experiment tracking: TensorBoard and MLflow, beside the CSV log that every run keeps.

A run with `track.mlflow` is one MLflow run: the flattened config as params, the per-epoch
curves through Lightning's MLFlowLogger, then the final metrics, the report and the model
package as artifacts, and optionally a version in the model registry. The MLflow run id is kept
in RUN_DIR/tracking.json, so `--resume` continues the same MLflow run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainforge.config import ExperimentConfig, MlflowConfig
from trainforge.errors import ConfigError
from trainforge.package import write_json

TRACKING_FILE = "tracking.json"
DATABASE = "mlruns.db"
ARTIFACTS = "mlartifacts"
# Files of a finished run that go to MLflow as artifacts (the package goes under model/).
RUN_ARTIFACTS = ("report.html", "metrics.json", "history.json", "config.yaml")
_INSTALL = "Install the tracking extra: pip install 'trainforge[track]'"


@dataclass
class Tracking:
    """The trackers of one run: Lightning loggers for the fit, and the MLflow run if any."""

    loggers: list[Any] = field(default_factory=list)
    mlflow: MlflowRun | None = None

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        """Record the finished run (final metrics, artifacts, registry)."""
        if self.mlflow is not None:
            self.mlflow.finish(run_dir, metrics)

    def fail(self, interrupted: bool) -> None:
        """Mark the tracked run as failed (or killed, for Ctrl-C and pruned trials)."""
        if self.mlflow is not None:
            self.mlflow.end("KILLED" if interrupted else "FAILED")


def start(cfg: ExperimentConfig, run_dir: Path, *, resume: bool) -> Tracking:
    """Open the trackers a config asks for; errors here come before any training."""
    tracking = Tracking()
    if cfg.track.tensorboard:
        from lightning.pytorch.loggers import TensorBoardLogger

        # A new version_N per session, as for the CSV log, so a resume adds to the curves.
        tracking.loggers.append(
            TensorBoardLogger(run_dir, name="tensorboard", default_hp_metric=False)
        )
    if cfg.track.mlflow is not None:
        tracking.mlflow = MlflowRun.start(cfg, run_dir, resume=resume)
        tracking.loggers.append(tracking.mlflow.logger())
    return tracking


def default_tracking_uri(runs_folder: Path) -> str:
    """The SQLite file `mlruns.db` in the folder that holds the run folders."""
    return f"sqlite:///{(runs_folder / DATABASE).resolve()}"


@dataclass
class MlflowRun:
    """One MLflow run, opened before training and closed when the run has finished."""

    client: Any
    tracking_uri: str
    run_id: str
    settings: MlflowConfig

    @classmethod
    def start(cls, cfg: ExperimentConfig, run_dir: Path, *, resume: bool) -> MlflowRun:
        settings = cfg.track.mlflow
        assert settings is not None
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise ConfigError(
                "track.mlflow needs the mlflow package", where="track.mlflow", fix=_INSTALL
            ) from None
        uri = settings.tracking_uri or default_tracking_uri(run_dir.parent)
        if uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        saved = _saved_run(run_dir) if resume else None
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            if saved is not None and saved.get("tracking_uri") == uri:
                run_id = saved["run_id"]
                client.update_run(run_id, status="RUNNING")
            else:
                experiment = settings.experiment or cfg.name or run_dir.name
                run = client.create_run(
                    _experiment_id(client, experiment, uri, run_dir.parent),
                    run_name=run_dir.name,
                    tags={"trainforge.task": cfg.task, "trainforge.run_dir": str(run_dir)},
                )
                run_id = run.info.run_id
                flat = _flatten(cfg.model_dump(mode="json"))
                params = [_param(key, value) for key, value in flat]
                for start in range(0, len(params), 100):  # MLflow takes 100 params per batch
                    client.log_batch(run_id, params=params[start : start + 100])
        except Exception as exc:  # MLflow raises its own and many transport errors
            raise ConfigError(
                f"cannot log to MLflow at {uri!r} ({type(exc).__name__}: {exc})",
                where="track.mlflow.tracking_uri",
                fix="Check the URI (e.g. sqlite:///mlruns.db or http://host:5000) and that the "
                "server is running, or remove track.mlflow",
            ) from None
        write_json(run_dir / TRACKING_FILE, {"mlflow": {"tracking_uri": uri, "run_id": run_id}})
        return cls(client=client, tracking_uri=uri, run_id=run_id, settings=settings)

    def logger(self) -> Any:
        """Lightning's MLflow logger, writing the per-epoch metrics into this run."""
        from lightning.pytorch.loggers import MLFlowLogger

        return MLFlowLogger(tracking_uri=self.tracking_uri, run_id=self.run_id)

    def finish(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        now = _now_ms()
        values = [Metric(key, value, now, 0) for key, value in _final_metrics(metrics)]
        for start in range(0, len(values), 1000):
            self.client.log_batch(self.run_id, metrics=values[start : start + 1000])
        for name in RUN_ARTIFACTS:
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        if (run_dir / "plots").is_dir():
            self.client.log_artifacts(self.run_id, str(run_dir / "plots"), "plots")
        from trainforge.versions import resolve

        self.client.log_artifacts(self.run_id, str(resolve(run_dir / "model")), "model")
        record: dict[str, Any] = {"tracking_uri": self.tracking_uri, "run_id": self.run_id}
        if self.settings.registered_model:
            record |= self._register(self.settings.registered_model)
        self.end("FINISHED")
        write_json(run_dir / TRACKING_FILE, {"mlflow": record})

    def _register(self, name: str) -> dict[str, Any]:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source = f"{self.client.get_run(self.run_id).info.artifact_uri}/model"
        version = self.client.create_model_version(name, source=source, run_id=self.run_id)
        return {"registered_model": name, "version": int(version.version)}

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)


def serve_ui(
    folder: Path,
    *,
    tensorboard: bool = False,
    port: int | None = None,
    backend_store_uri: str | None = None,
    ready: Callable[[str], None] = print,
) -> None:
    """Run the MLflow UI (or TensorBoard) on 127.0.0.1 until interrupted.

    Args:
        folder: the folder holding the runs (and mlruns.db, for MLflow).
        tensorboard: start TensorBoard on the runs' event files instead.
        port: the port; default 5000 (TensorBoard 6006); 0 picks a free one.
        backend_store_uri: MLflow's tracking store; default sqlite:///FOLDER/mlruns.db.
        ready: called with the address once the page answers.
    """
    import subprocess
    import sys

    port = _free_port(port if port is not None else (6006 if tensorboard else 5000))
    if tensorboard:
        if not folder.is_dir():
            raise ConfigError(
                "no such folder", where=str(folder), fix="Pass the folder that holds your runs"
            )
        command = [_tool("tensorboard"), "--logdir", str(folder)]
    else:
        uri = backend_store_uri or default_tracking_uri(folder)
        if backend_store_uri is None and not (folder / DATABASE).is_file():
            raise ConfigError(
                "no MLflow database here",
                where=str(folder / DATABASE),
                fix="Train with `track: {mlflow: true}` (runs in this folder) first, pass the "
                "folder that holds mlruns.db, or pass --backend-store-uri",
            )
        command = [_tool("mlflow"), "ui", "--backend-store-uri", uri, "--workers", "1"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/"
    # A viewer needs no background job runners (MLflow starts a dozen processes for them).
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    # Its own process group, so stopping the UI stops every process it started; its log goes
    # to stderr: stdout carries only the address, for scripts.
    process = subprocess.Popen(command, stdout=sys.stderr, env=env, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        _wait_until_up(url, process)
        ready(url)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_group(process)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_group(process: Any) -> None:
    """Terminate the process and everything it started; kill what is left after 10 s."""
    import subprocess

    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def _tool(name: str) -> str:
    """The console script `name` of this environment (beside python), else from PATH."""
    import shutil
    import sys

    local = Path(sys.executable).parent / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} is not installed", where="trainforge ui", fix=_INSTALL)
    return found


def _free_port(port: int) -> int:
    """`port` if nothing listens there on loopback (0: any free port)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(
                f"port {port} is in use", where="--port", fix="Pass another --port, or 0 for any"
            ) from None
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, process: Any, timeout_s: float = 180.0) -> None:
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"the UI stopped at start (exit code {process.returncode})",
                where="trainforge ui",
                fix="See its messages above",
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise ConfigError(f"the UI did not answer at {url} within {timeout_s:.0f} s", where="--port")


def _experiment_id(client: Any, name: str, uri: str, runs_folder: Path) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    # A local store keeps its artifacts beside the database; a server decides for itself.
    location = None
    if not uri.startswith(("http://", "https://", "databricks")):
        location = (runs_folder / ARTIFACTS).resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


def _param(key: str, value: Any) -> Any:
    from mlflow.entities import Param

    text = value if isinstance(value, str) else json.dumps(value)
    return Param(key, text[:6000])  # MLflow's limit on a param value


def _final_metrics(metrics: dict[str, Any]) -> Iterator[tuple[str, float]]:
    """`test_accuracy`, `validation_f1_macro`, `train_time_s`, ...: every scalar of a run."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            for name, number in value.items():
                if isinstance(number, (int, float)) and not isinstance(number, bool):
                    yield f"{key}_{name}", float(number)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield key, float(value)


def _saved_run(run_dir: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads((run_dir / TRACKING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    mlflow = saved.get("mlflow") if isinstance(saved, dict) else None
    return mlflow if isinstance(mlflow, dict) and "run_id" in mlflow else None


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
