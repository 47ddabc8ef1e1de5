"""Tracking: a real MLflow store (SQLite) and TensorBoard files after `trainforge train`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import check_user_error, cli_command, run_cli
from mlflow import MlflowClient

import trainforge

CONFIG: dict[str, Any] = {
    "task": "tabular_classification",
    "name": "tracked",
    "data": {"train": "sklearn:breast_cancer", "label_column": "target"},
    "model": {"type": "mlp", "hidden_sizes": [8]},
    "train": {"epochs": 3, "early_stopping": None},
    "track": {"tensorboard": True, "mlflow": {"registered_model": "tumours"}},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding one run trained by the real command with tracking on."""
    root = tmp_path_factory.mktemp("tracking")
    (root / "tracked.yaml").write_text(yaml.safe_dump(CONFIG))
    result = run_cli(root, ["train", "tracked.yaml", "-o", "runs/first"])
    assert result.returncode == 0, result.stderr
    return root / "runs"


def _client(runs: Path) -> MlflowClient:
    uri = f"sqlite:///{runs / 'mlruns.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_the_run_is_in_mlflow_with_params_curves_metrics_and_artifacts(runs: Path) -> None:
    record = json.loads((runs / "first" / "tracking.json").read_text())["mlflow"]
    client = _client(runs)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == "first"
    assert client.get_experiment(run.info.experiment_id).name == "tracked"
    # The resolved config, flattened, as params.
    assert run.data.params["train.epochs"] == "3"
    assert run.data.params["model.hidden_sizes"] == "[8]"
    # One validation loss per epoch, and the final metrics of each split.
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3
    metrics = json.loads((runs / "first" / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run.data.metrics["validation_f1_macro"] == pytest.approx(
        metrics["validation"]["f1_macro"]
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "metrics.json", "config.yaml", "model", "plots"} <= artifacts
    package = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model/model.safetensors" in package
    # Registered in the model registry, pointing at the logged package.
    version = client.get_model_version("tumours", str(record["version"]))
    assert version.run_id == run.info.run_id and version.source.endswith("/model")


def test_tensorboard_event_files_are_written(runs: Path) -> None:
    events = list((runs / "first" / "tensorboard").glob("version_*/events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_a_second_run_joins_the_experiment_and_the_registry(runs: Path) -> None:
    second = trainforge.train(
        CONFIG, overrides=["train.lr=0.01"], output=runs / "second", progress=False
    )
    record = json.loads((second.run_dir / "tracking.json").read_text())["mlflow"]
    assert record["version"] == 2
    client = _client(runs)
    experiment = client.get_experiment_by_name("tracked")
    found = client.search_runs([experiment.experiment_id])
    assert {r.info.run_name for r in found} >= {"first", "second"}


def test_an_unreachable_tracking_store_stops_before_training(tmp_path: Path) -> None:
    config = dict(CONFIG, track={"mlflow": {"tracking_uri": "nosuchscheme://x"}})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = run_cli(tmp_path, ["train", "bad.yaml", "-o", "runs/bad"])
    check_user_error(result, "track.mlflow.tracking_uri: cannot log to MLflow", "Check the URI")
    assert not (tmp_path / "runs" / "bad").exists()


def _serve(folder: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `trainforge ui` and return it with the address it printed."""
    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [*cli_command(), "ui", str(folder), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the UI answers (or the command fails)
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert match, f"no address in {line!r} (exit {process.poll()})"
    return process, match.group(0)


def test_ui_serves_the_mlflow_page_on_loopback(runs: Path) -> None:
    process, url = _serve(runs)
    try:
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        search = url + "api/2.0/mlflow/experiments/search?max_results=10"
        with urllib.request.urlopen(search, timeout=30) as answer:
            names = {e["name"] for e in json.load(answer)["experiments"]}
        assert "tracked" in names
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ui_serves_tensorboard_on_loopback(runs: Path) -> None:
    process, url = _serve(runs, "--tensorboard")
    try:
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        with urllib.request.urlopen(url + "data/runs", timeout=30) as answer:
            assert any("first" in run for run in json.load(answer))
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ui_without_a_tracking_store_says_how_to_get_one(tmp_path: Path) -> None:
    check_user_error(
        run_cli(tmp_path, ["ui", "runs"]), "mlruns.db: no MLflow database here", "track:"
    )
