"""Serving a text model: strings in, the package's predictions out, batched under load."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, fuzz, serve

import trainforge

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning")]

MAX_TEXT = 200
TEXTS = [
    "Notifications are sensible and easy to customize.",
    "The app crashes every time I open the camera.",
    "Fine, I guess.",
    "Support never answered my emails and the refund took months to arrive.",
]


@pytest.fixture(scope="module")
def server(text_package: Path) -> Iterator[Server]:
    # A generous wait, so the concurrent requests below surely share model calls.
    yield from serve(text_package, "--max-text-length", str(MAX_TEXT), "--max-wait-ms", "50")


def _post(server: Server, inputs: list[Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/predict", json={"inputs": inputs}, timeout=60)


def test_texts_get_the_packages_predictions(server: Server, text_package: Path) -> None:
    response = _post(server, TEXTS)
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    expected = trainforge.load(text_package).predict(TEXTS)
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
    as_rows = _post(server, [{"text": t} for t in TEXTS]).json()["predictions"]
    assert [p["label"] for p in as_rows] == [p["label"] for p in got]


def test_concurrent_requests_share_model_calls(server: Server) -> None:
    def batched_calls() -> tuple[float, float]:
        values = {}
        for line in httpx.get(f"{server.url}/metrics").text.splitlines():
            if line.startswith(("trainforge_batch_size_count", "trainforge_batch_size_sum")):
                name, value = line.split()
                values[name] = float(value)
        return values["trainforge_batch_size_count"], values["trainforge_batch_size_sum"]

    calls_before, inputs_before = batched_calls()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: _post(server, [TEXTS[i % 4]]), range(32)))
    assert all(a.status_code == 200 for a in answers)
    calls, inputs = batched_calls()
    assert inputs - inputs_before == 32
    assert calls - calls_before < 16  # on average more than two requests per model call


@pytest.mark.parametrize(
    ("inputs", "loc", "fragment"),
    [
        (["x" * (MAX_TEXT + 1)], ["body", "inputs", 0], "201 characters of text"),
        ([" "], ["body", "inputs"], "the text is empty"),
        ([{"review": "great"}], ["body", "inputs"], "text column 'text' not found"),
        ([["a", "list"]], ["body", "inputs", 0], "text models take a string"),
    ],
)
def test_bad_texts_are_a_422(server: Server, inputs: list[Any], loc: list[Any], fragment: str):
    response = _post(server, inputs)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc and fragment in error["msg"], error


def test_metadata_of_a_text_model(server: Server) -> None:
    meta = httpx.get(f"{server.url}/v1/metadata").json()
    assert meta["task"] == "text_classification"
    assert meta["labels"] == ["negative", "positive"]
    assert {"type": "string"} in meta["input_schema"]["anyOf"]


def test_fuzzing_the_predict_route_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    fuzz(server, tmp_path, "--include-path", "/v1/predict", "--max-examples", "10")
