"""ONNX export of a tabular MLP package: parity, `load(onnx=...)`, atomicity and user errors.

One small breast-cancer MLP is trained per module; each export takes about a second.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import check_user_error, run_cli

import trainforge
from trainforge.errors import PackageError, TrainforgeError
from trainforge.export import export_onnx
from trainforge.models.onnx_network import OnnxNetwork
from trainforge.pipeline import Run

DATA = "sklearn:breast_cancer"


def _tabular(model_type: str) -> dict:
    return {
        "task": "tabular_classification",
        "data": {"train": DATA, "label_column": "target"},
        "model": {"type": model_type},
        "train": {"epochs": 3, "seed": 0},
    }


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("mlp") / "run"
    return trainforge.train(_tabular("mlp"), output=out, progress=False)


@pytest.fixture
def package(mlp_run: Run, tmp_path: Path) -> Path:
    """A fresh copy of the package, so each test starts without an onnx/ folder."""
    copy = tmp_path / "model"
    shutil.copytree(mlp_run.package_dir, copy)
    return copy


def _same_predictions(a: list[dict], b: list[dict], tol: float = 1e-4) -> None:
    assert [p["label"] for p in a] == [p["label"] for p in b]
    for x, y in zip(a, b, strict=True):
        assert x["probabilities"] == pytest.approx(y["probabilities"], abs=tol)


def test_cli_export_writes_parity_and_predict_onnx_matches_pytorch(
    package: Path, tmp_path: Path
) -> None:
    result = run_cli(tmp_path, ["export", str(package), "--format", "onnx"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fp32: ") and "label agreement 100.0%" in result.stdout
    parity = json.loads((package / "onnx" / "parity.json").read_text(encoding="utf-8"))
    fp32 = parity["models"]["fp32"]
    assert fp32["file"] == "model.onnx" and fp32["within_tolerance"]
    assert fp32["max_abs_diff"] < 1e-4 and fp32["label_agreement"] == 1.0
    assert fp32["rows"] > 50  # the config's data was reachable: real rows, batch 1 included
    assert set(parity["versions"]) >= {"torch", "onnxruntime"}

    fast = trainforge.load(package, onnx=True)
    assert isinstance(fast.network, OnnxNetwork)
    _same_predictions(trainforge.load(package).predict(DATA), fast.predict(DATA))

    predicted = run_cli(tmp_path, ["predict", str(package), DATA, "--onnx", "--limit", "3"])
    assert predicted.returncode == 0, predicted.stderr
    lines = [json.loads(line) for line in predicted.stdout.splitlines()]
    _same_predictions(lines, trainforge.load(package).predict(DATA)[:3], tol=1e-5)


def test_int8_export_replaces_the_folder_and_is_the_default(package: Path) -> None:
    export_onnx(package)
    report = export_onnx(package, quantize="int8")
    assert sorted(p.name for p in (package / "onnx").iterdir()) == [
        "model.int8.onnx",
        "model.onnx",
        "parity.json",
    ]
    int8 = report["models"]["int8"]
    assert int8["label_agreement"] >= 0.9 and int8["per_channel"] and int8["reduce_range"]
    assert trainforge.load(package, onnx=True).network.file.name == "model.int8.onnx"
    assert trainforge.load(package, onnx="fp32").network.file.name == "model.onnx"
    eager = trainforge.load(package).predict(DATA)
    quantized = trainforge.load(package, onnx=True).predict(DATA)
    agree = sum(a["label"] == b["label"] for a, b in zip(eager, quantized, strict=True))
    assert agree / len(eager) >= 0.9
    # A plain re-export drops the int8 model, so --onnx cannot pick a stale one.
    export_onnx(package)
    assert not (package / "onnx" / "model.int8.onnx").exists()


def test_failed_export_leaves_the_package_as_it_was(
    package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(source: Path, target: Path) -> None:
        target.write_bytes(b"half a model")
        raise RuntimeError("disk full")

    monkeypatch.setattr("trainforge.export._quantize", broken)
    before = sorted(p.name for p in package.iterdir())
    with pytest.raises(RuntimeError, match="disk full"):
        export_onnx(package, quantize="int8")
    assert sorted(p.name for p in package.iterdir()) == before  # no onnx/, no temp folder

    export_onnx(package)
    saved = (package / "onnx" / "parity.json").read_bytes()
    with pytest.raises(RuntimeError, match="disk full"):
        export_onnx(package, quantize="int8")
    assert sorted(p.name for p in (package / "onnx").iterdir()) == ["model.onnx", "parity.json"]
    assert (package / "onnx" / "parity.json").read_bytes() == saved
    assert not [p for p in package.iterdir() if p.name.startswith(".")]


def test_onnx_without_export_and_classical_models_are_clear_errors(
    package: Path, tmp_path: Path
) -> None:
    result = run_cli(tmp_path, ["predict", str(package), DATA, "--onnx"])
    check_user_error(result, "no ONNX export", f"trainforge export {package} --format onnx")
    export_onnx(package)
    with pytest.raises(PackageError, match="no int8 ONNX model"):
        trainforge.load(package, onnx="int8")

    classical = trainforge.train(
        _tabular("logistic_regression"), output=tmp_path / "classical", progress=False
    )
    result = run_cli(tmp_path, ["export", str(classical.model_dir), "--format", "onnx"])
    check_user_error(result, "not supported for scikit-learn models", "estimator.skops")
    assert not (classical.package_dir / "onnx").exists()
    with pytest.raises(PackageError, match="not supported for scikit-learn"):
        trainforge.load(classical.model_dir, onnx=True)

    with pytest.raises(TrainforgeError, match="--quantize: unknown quantization 'int4'"):
        export_onnx(package, quantize="int4")


def test_cli_help_imports_neither_torch_nor_onnx() -> None:
    code = (
        "import sys\n"
        "from trainforge.cli import app\n"
        "try:\n"
        "    app(['export', '--help'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]\n"
        "    assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--quantize" in result.stdout
