"""The HTTP API on a tabular model: predictions, status endpoints, limits, errors, fuzzing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, copy_package, fuzz, serve

import trainforge
from trainforge.client import Client, ClientError

MAX_BODY = 20_000
MAX_INPUTS = 64


@pytest.fixture(scope="module")
def server(iris_package: Path) -> Iterator[Server]:
    yield from serve(
        iris_package, "--max-body-bytes", str(MAX_BODY), "--max-inputs", str(MAX_INPUTS)
    )


def _post(server: Server, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/predict", json=body, timeout=30, **kwargs)


def _close(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    for a, b in zip(got, expected, strict=True):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)


def test_predict_gives_what_the_package_predicts(
    server: Server, iris_package: Path, iris_rows: list[dict[str, float]]
) -> None:
    rows = iris_rows[::10]
    response = _post(server, {"inputs": rows})
    assert response.status_code == 200, response.text
    body = response.json()
    _close(body["predictions"], trainforge.load(iris_package).predict(rows))
    assert body["model_version"] == httpx.get(f"{server.url}/v1/ready").json()["model_version"]
    assert len(body["model_version"]) == 12  # a package served directly: a content hash


def test_concurrent_single_rows_are_batched_and_each_gets_its_own_answer(
    server: Server, iris_package: Path, iris_rows: list[dict[str, float]]
) -> None:
    rows = iris_rows[:48]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda row: _post(server, {"inputs": [row]}), rows))
    assert all(a.status_code == 200 for a in answers)
    got = [a.json()["predictions"][0] for a in answers]
    _close(got, trainforge.load(iris_package).predict(rows))


def test_health_ready_metadata(server: Server, iris_package: Path) -> None:
    assert httpx.get(f"{server.url}/v1/health").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/v1/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    meta = httpx.get(f"{server.url}/v1/metadata").json()
    assert meta["task"] == "tabular_classification"
    assert meta["labels"] == ["setosa", "versicolor", "virginica"]
    assert meta["input_schema"]["required"][0] == "sepal length (cm)"
    assert meta["metrics"] == json.loads((iris_package / "metrics.json").read_text())
    assert meta["runtime"] == "torch"
    assert meta["limits"]["max_inputs"] == MAX_INPUTS
    assert meta["model_version"] == ready.json()["model_version"]


def test_prometheus_metrics(server: Server, iris_rows: list[dict[str, float]]) -> None:
    _post(server, {"inputs": iris_rows[:3]})
    _post(server, {"inputs": "not a list"})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'trainforge_requests_total{method="POST",path="/v1/predict",status="200"}' in text
    assert 'trainforge_requests_total{method="POST",path="/v1/predict",status="422"}' in text
    assert "trainforge_request_duration_seconds_bucket" in text
    assert "trainforge_batch_size_count" in text
    assert 'trainforge_model_reloads_total{result="ok"} 1.0' in text


def test_docs_and_openapi(server: Server) -> None:
    assert httpx.get(f"{server.url}/docs").status_code == 200
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    assert {"/v1/predict", "/v1/health", "/v1/ready", "/v1/metadata", "/v1/admin/reload"} <= set(
        paths
    )


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        ({"inputs": []}, ["body", "inputs"], "at least 1"),
        ({"inputs": "x"}, ["body", "inputs"], "valid list"),
        ({"rows": [{}]}, ["body", "inputs"], "Field required"),
        ({"inputs": [{"a": 1}], "extra": 1}, ["body", "extra"], "Extra inputs"),
        ({"inputs": [{"a": {"b": 1}}]}, ["body", "inputs", 0], ""),
        ({"inputs": ["a text"]}, ["body", "inputs", 0], "tabular models take an object"),
        ({"inputs": [{"sepal length (cm)": 5.0}]}, ["body", "inputs"], "missing feature column"),
        ({"inputs": [{}] * (MAX_INPUTS + 1)}, ["body", "inputs"], "more than the 64 allowed"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    server: Server, body: Any, loc: list[Any], fragment: str
) -> None:
    response = _post(server, body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][: len(loc)] == loc and fragment in e["msg"] for e in errors), errors


def test_a_bad_value_gets_the_models_message(
    server: Server, iris_rows: list[dict[str, float]]
) -> None:
    row = {**iris_rows[0], "petal width (cm)": "wide"}
    response = _post(server, {"inputs": [iris_rows[1], row]})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (
        "input row 1: column 'petal width (cm)' holds 'wide', which is not a number"
        in (error["msg"])
    )


def test_a_bad_request_does_not_fail_the_requests_batched_with_it(
    server: Server, iris_rows: list[dict[str, float]]
) -> None:
    bad = {**iris_rows[0], "petal width (cm)": float("inf")}  # sent as `Infinity`
    bodies = [{"inputs": [bad if i == 7 else row]} for i, row in enumerate(iris_rows[:24])]

    def send(body: Any) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return httpx.post(f"{server.url}/v1/predict", content=json.dumps(body), headers=headers)

    with ThreadPoolExecutor(12) as pool:
        codes = [r.status_code for r in pool.map(send, bodies)]
    assert codes == [422 if i == 7 else 200 for i in range(24)]


def test_malformed_json_is_a_422(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/v1/predict",
        content=b'{"inputs": [',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON decode error" in response.json()["detail"][0]["msg"]
    form = httpx.post(f"{server.url}/v1/predict", content=b'{"inputs": [{}]}')
    assert form.status_code == 422
    assert "Content-Type: application/json" in form.json()["detail"][0]["msg"]


def test_body_over_the_limit_is_a_413(server: Server, iris_rows: list[dict[str, float]]) -> None:
    big = {"inputs": iris_rows[:1] * 400}
    assert len(json.dumps(big, separators=(",", ":"))) > MAX_BODY
    response = _post(server, big)
    assert response.status_code == 413
    assert "--max-body-bytes" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        data = json.dumps(big).encode()
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    chunked = httpx.post(
        f"{server.url}/v1/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413
    assert _post(server, {"inputs": iris_rows[:2]}).status_code == 200  # still serving


def test_reload_of_the_same_package_changes_nothing(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/admin/reload", timeout=30)
    assert response.status_code == 200
    assert response.json()["changed"] is False


def test_client_helper(server: Server, iris_rows: list[dict[str, float]]) -> None:
    with Client(server.url) as client:
        assert client.health()
        predictions = client.predict(iris_rows[:2])
        assert len(predictions) == 2 and "label" in predictions[0]
        assert client.last_model_version == client.metadata()["model_version"]
        with pytest.raises(ClientError, match=r"HTTP 422: inputs.0: tabular models take"):
            client.predict(["text"])
    assert not Client("http://127.0.0.1:9").health()


def test_fuzzing_the_openapi_spec_finds_no_server_error(server: Server, tmp_path: Path) -> None:
    fuzz(server, tmp_path, "--max-examples", "15")


def test_serve_onnx(iris_package: Path, tmp_path: Path, iris_rows: list[dict[str, float]]) -> None:
    """`serve --onnx` predicts with the package's ONNX export, as `load(onnx=True)` does."""
    from trainforge.export import export_onnx

    package = copy_package(iris_package, tmp_path / "model")
    export_onnx(package)
    for server in serve(package, "--onnx"):
        response = _post(server, {"inputs": iris_rows[:5]})
        assert response.status_code == 200, response.text
        _close(response.json()["predictions"], trainforge.load(package).predict(iris_rows[:5]))
        assert httpx.get(f"{server.url}/v1/metadata").json()["runtime"] == "onnx"
