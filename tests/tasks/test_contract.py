"""The task-family contract: every registered task passes one suite, as scikit-learn's
`check_estimator` runs every estimator through the same checks.

A new task adds one row to `CASES` (a tiny data set and JSON inputs for it); the suite fails
for a registered task without one. Each case trains for a step or two: the checks are about the
seam (prepare, fit, package, load, predict, errors, ONNX, serve), not about accuracy.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cli_support import check_user_error, run_cli
from serving.conftest import Server

import trainforge
from trainforge.config.tasks import TASKS
from trainforge.errors import PackageError, TrainforgeError
from trainforge.tasks.family import TaskFamily
from trainforge.tasks.registry import families, family

REPO = Path(__file__).resolve().parents[2]
REVIEWS = REPO / "examples" / "data" / "reviews"
TEXT = {"backbone": "minilm"}
SHORT_TEXT = {"max_length": 32, "batch_size": 16, "max_steps": 2, "epochs": 1}


@dataclass(frozen=True)
class Case:
    """A task's tiny run: its config (given a folder to write data into) and request inputs.

    Attributes:
        config: folder -> config dict.
        inputs: the trained model -> JSON-able inputs for `POST /v1/predict`.
        local: JSON inputs -> what `Model.predict` takes for them (images arrive as base64).
    """

    config: Callable[[Path], dict[str, Any]]
    inputs: Callable[[Any], list[Any]]
    local: Callable[[list[Any]], list[Any]] = lambda inputs: inputs


def _tabular(task: str, data: str, label: str) -> Case:
    def config(folder: Path) -> dict[str, Any]:
        return {
            "task": task,
            "data": {"train": data, "label_column": label},
            "model": {"type": "mlp", "hidden_sizes": [8]},
            "train": {"epochs": 1, "batch_size": 32},
        }

    def inputs(model: Any) -> list[Any]:
        from trainforge.data.readers import read_table

        frame = read_table(data).head(3)
        return json.loads(frame[model.input_columns].to_json(orient="records"))

    return Case(config, inputs)


def _text_classification(folder: Path) -> dict[str, Any]:
    return {
        "task": "text_classification",
        "data": {
            "train": str(REVIEWS / "train.csv"),
            "validation": str(REVIEWS / "validation.csv"),
            "test": str(REVIEWS / "test.csv"),
        },
        "model": TEXT,
        "train": SHORT_TEXT,
    }


def _token_classification(folder: Path) -> dict[str, Any]:
    sentences = [
        [("Angela", "B-PER"), ("Merkel", "I-PER"), ("visited", "O"), ("Paris", "B-LOC")],
        [("John", "B-PER"), ("works", "O"), ("at", "O"), ("Google", "B-ORG")],
        [("The", "O"), ("Thames", "B-LOC"), ("flows", "O"), ("through", "O"), ("London", "B-LOC")],
        [("Microsoft", "B-ORG"), ("hired", "O"), ("Mary", "B-PER"), ("Smith", "I-PER")],
    ]
    lines = []
    for i in range(12):
        lines += [f"{word} {tag}" for word, tag in sentences[i % len(sentences)]] + [""]
    path = folder / "train.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    return {
        "task": "token_classification",
        "data": {"train": str(path), "split": {"validation": 0.25, "test": 0.25}},
        "model": TEXT,
        # SmolLM2's template adds its own system turn: 32 tokens would drop most rows.
        "train": {**SHORT_TEXT, "batch_size": 4, "max_length": 96},
    }


def _text_regression(folder: Path) -> dict[str, Any]:
    import pandas as pd

    words = {"superb": 5.0, "good": 4.0, "fine": 3.0, "dull": 2.0, "awful": 1.0}
    rows = [
        {"text": f"a {word} film, {'truly ' * (i % 3)}{word}", "score": score}
        for i in range(12)
        for word, score in words.items()
    ]
    path = folder / "scores.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return {
        "task": "text_regression",
        "data": {"train": str(path), "label_column": "score"},
        "model": TEXT,
        "train": SHORT_TEXT,
    }


def _image(folder: Path) -> dict[str, Any]:
    return {
        "task": "image_classification",
        "data": {"train": "sklearn:digits", "label_column": "target"},
        "model": {"type": "cnn", "channels": [8, 16]},
        "train": {"epochs": 1, "max_steps": 3},
    }


def _png_inputs(model: Any) -> list[Any]:
    from PIL import Image

    rng = np.random.default_rng(0)
    channels, (height, width) = model.inputs.format.channels, model.inputs.format.size
    encoded = []
    for _ in range(2):
        pixels = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).convert("RGB" if channels == 3 else "L").save(buffer, "PNG")
        encoded.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return encoded


def _recommendation(folder: Path) -> dict[str, Any]:
    from trainforge.data.synthetic import SyntheticSpec, write_recommendations

    spec = SyntheticSpec(users=60, items=40, interactions=1500, genres=4, seed=3)
    interactions, items = write_recommendations(folder / "data", spec)
    return {
        "task": "recommendation",
        "data": {"train": str(interactions), "items": str(items), "time_column": "time"},
        "train": {"epochs": 1, "batch_size": 256},
    }


def _text_generation(folder: Path) -> dict[str, Any]:
    from generation_support import hours_chats, tiny_lm, write_jsonl

    lm = folder / "lm"
    return {
        "task": "text_generation",
        "data": {"train": write_jsonl(folder / "chat.jsonl", hours_chats(12))},
        # A two-layer random Llama: the checks are about the seam, SmolLM2 has its own tests.
        "model": {"backbone": str(lm) if lm.is_dir() else tiny_lm(lm), "finetune": "lora"},
        # SmolLM2's template adds its own system turn: 32 tokens would drop most rows.
        "train": {**SHORT_TEXT, "batch_size": 4, "max_length": 96},
        "generation": {"max_new_tokens": 4},
    }


CASES: dict[str, Case] = {
    "tabular_classification": _tabular("tabular_classification", "sklearn:iris", "target"),
    "tabular_regression": _tabular("tabular_regression", "sklearn:diabetes", "target"),
    "text_classification": Case(_text_classification, lambda m: ["a gripping film", "dull"]),
    "token_classification": Case(_token_classification, lambda m: ["John visited London ."]),
    "text_regression": Case(_text_regression, lambda m: ["a superb film", "an awful film"]),
    "image_classification": Case(
        _image, _png_inputs, lambda inputs: [base64.b64decode(s) for s in inputs]
    ),
    "recommendation": Case(
        _recommendation, lambda m: [{"user": str(u)} for u in m.catalog.user_ids[:2]]
    ),
    "text_generation": Case(_text_generation, lambda m: ["When do you open?", "Hi"]),
}


@dataclass
class Trained:
    task: str
    run: Any
    case: Case
    folder: Path


@pytest.fixture(scope="module", params=sorted(TASKS))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    task = request.param
    case = CASES[task]
    folder = tmp_path_factory.mktemp(task)
    run = trainforge.train(case.config(folder), output=folder / "run", progress=False)
    return Trained(task, run, case, folder)


def test_every_registered_task_has_a_case_and_a_family() -> None:
    assert set(TASKS) <= set(CASES), f"add a row to CASES for {sorted(set(TASKS) - set(CASES))}"
    for task in TASKS:
        found = family(task)
        assert isinstance(found, TaskFamily)
        assert found.name, task
        assert found.input_kind in ("text", "token", "tabular", "image", "recommendation")
    # One family per folder: tasks of one family share its object.
    assert len(families()) == len({TASKS[t].family for t in TASKS})


def test_a_package_reloads_and_predicts_what_the_trained_model_predicted(trained: Trained) -> None:
    run, case = trained.run, trained.case
    inputs = case.local(case.inputs(run.model))
    loaded = trainforge.load(run.model_dir)
    assert type(loaded) is type(run.model)
    assert loaded.labels == run.model.labels
    _assert_same(loaded.predict(inputs), run.model.predict(inputs))
    family_ = family(trained.task)
    assert json.dumps(family_.input_schema(loaded))  # JSON-able
    assert loaded.predict([family_.warmup_input(loaded)])
    for split in ("validation", "test"):
        if split in run.metrics:
            assert run.metrics[split], split
    assert (run.run_dir / "report.html").is_file()


def test_bad_input_is_a_user_error_that_leaves_nothing(trained: Trained) -> None:
    config = trained.case.config(trained.folder)
    config["data"]["train"] = str(trained.folder / "missing.csv")
    output = trained.folder / "bad-run"
    with pytest.raises(TrainforgeError, match="not found"):
        trainforge.train(config, output=output, progress=False)
    assert not output.exists()
    with pytest.raises(TrainforgeError, match=r"missing\.csv"):
        trainforge.load(trained.run.model_dir).predict(str(trained.folder / "missing.csv"))


def test_the_command_line_reports_bad_input_with_exit_2(tmp_path: Path) -> None:
    """Every family's errors are `TrainforgeError`s (above); the CLI turns any into exit 2."""
    config = CASES["tabular_classification"].config(tmp_path)
    config["data"]["train"] = "missing.csv"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    result = run_cli(tmp_path, ["train", str(path), "--output", "run"])
    check_user_error(result, "missing.csv")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_onnx_export_agrees_with_pytorch_or_is_refused_clearly(trained: Trained) -> None:
    from trainforge.export import export_onnx

    run, case = trained.run, trained.case
    try:
        report = export_onnx(run.model_dir)
    except PackageError as refused:
        assert "not supported" in str(refused)
        with pytest.raises(PackageError):
            trainforge.load(run.model_dir, onnx=True)
        return
    assert report["models"]["fp32"]["within_tolerance"], report
    inputs = case.local(case.inputs(run.model))
    onnx = trainforge.load(run.model_dir, onnx=True)
    _assert_same(onnx.predict(inputs), run.model.predict(inputs), tolerance=1e-3)


@pytest.mark.slow
def test_serve_answers_what_predict_answers(trained: Trained) -> None:
    run, case = trained.run, trained.case
    inputs = case.inputs(run.model)
    server = Server(run.model_dir).wait_ready()
    try:
        metadata = httpx.get(f"{server.url}/v1/metadata", timeout=30).json()
        assert metadata["input_schema"] == family(trained.task).input_schema(run.model)
        response = httpx.post(f"{server.url}/v1/predict", json={"inputs": inputs}, timeout=60)
        assert response.status_code == 200, response.text
        served = response.json()["predictions"]
        bad = httpx.post(f"{server.url}/v1/predict", json={"inputs": "not a list"}, timeout=30)
        assert bad.status_code == 422
    finally:
        server.stop()
    _assert_same(served, trainforge.load(run.model_dir).predict(case.local(inputs)))


def test_plan_sizes_the_network_or_refuses_clearly(trained: Trained) -> None:
    from trainforge.plan import plan

    try:
        planned = plan(trained.run.model.config)
    except TrainforgeError as refused:
        assert "does not cover" in str(refused)
        return
    assert planned.parameters > 0 or "scikit-learn" in planned.model
    assert planned.suggested_batch_size >= 1


def _assert_same(got: Any, expected: Any, tolerance: float = 1e-5, where: str = "") -> None:
    """Predictions equal, numbers within `tolerance` (relative, or absolute near zero)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), (where, got, expected)
        for key in expected:
            _assert_same(got[key], expected[key], tolerance, f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected), (where, got)
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            _assert_same(a, b, tolerance, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert math.isclose(got, expected, rel_tol=tolerance, abs_tol=tolerance), (where, got)
    else:
        assert got == expected, (where, got, expected)
