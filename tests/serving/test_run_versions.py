"""A run's model folder (v1/ + current, as `trainforge train` writes it) served, then rolled
back and forward with the CLI while requests keep coming: none fails."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from cli_support import run_cli
from conftest import serve
from test_hot_swap import Load, served_version, wait_for

import trainforge
from trainforge.versions import promote


def test_serve_follows_promotion_and_rollback_without_a_failed_request(
    tmp_path: Path, iris_rows: list[dict[str, float]]
) -> None:
    config = {
        "task": "tabular_classification",
        "data": {"train": "sklearn:iris", "label_column": "target"},
        "model": {"type": "mlp", "hidden_sizes": [8]},
        "train": {"epochs": 2, "seed": 1},
    }
    run = trainforge.train(config, output=tmp_path / "run", progress=False)
    model_dir = run.model_dir
    shutil.copytree(model_dir / "v1", model_dir / "v2")
    servers = serve(model_dir, "--watch-interval", "0.2")
    server = next(servers)
    try:
        assert served_version(server) == "v1"
        with Load(server, iris_rows[0]) as load:
            time.sleep(0.3)
            promote(model_dir, "v2")
            wait_for(lambda: served_version(server) == "v2")
            time.sleep(0.3)
            back = run_cli(tmp_path, ["rollback", str(model_dir)])
            assert back.returncode == 0, back.stderr
            wait_for(lambda: served_version(server) == "v1")
            time.sleep(0.3)
        assert set(load.statuses) == {200}, load.statuses
        assert set(load.versions) == {"v1", "v2"}, load.versions
    finally:
        servers.close()
