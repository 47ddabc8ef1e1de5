"""API-key auth (401) and the request timeout (504), on one server started with both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_support import check_user_error, run_cli
from conftest import Server, serve

from trainforge.client import Client, ClientError

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def server(iris_package: Path) -> Iterator[Server]:
    # A lone request waits 300 ms for others to batch with: longer than the 50 ms timeout.
    yield from serve(
        iris_package,
        "--api-key-env",
        "TF_TEST_KEY",
        "--max-wait-ms",
        "300",
        "--request-timeout",
        "0.05",
        env={"TF_TEST_KEY": KEY},
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/predict"), ("GET", "/v1/metadata"), ("POST", "/v1/admin/reload")],
)
def test_requests_without_the_key_get_401(server: Server, method: str, path: str) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = httpx.request(method, server.url + path, json={"inputs": [{}]}, headers=headers)
        assert response.status_code == 401, response.text
        assert "API key" in response.json()["detail"]


def test_probes_and_metrics_need_no_key(server: Server) -> None:
    for path in ("/v1/health", "/v1/ready", "/metrics", "/openapi.json"):
        assert httpx.get(server.url + path).status_code == 200, path


def test_the_key_is_accepted_in_either_header(server: Server) -> None:
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        response = httpx.get(f"{server.url}/v1/metadata", headers=headers)
        assert response.status_code == 200, response.text


def test_a_prediction_past_the_timeout_gets_504(
    server: Server, iris_rows: list[dict[str, float]]
) -> None:
    with Client(server.url, api_key=KEY) as client:
        with pytest.raises(ClientError, match=r"no prediction within 0\.05 s") as caught:
            client.predict(iris_rows[:1])
        assert caught.value.status_code == 504
        assert client.health()  # the server carries on
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'path="/v1/predict",status="504"' in metrics
    assert 'path="/v1/predict",status="401"' in metrics


def test_serve_refuses_what_it_cannot_serve(tmp_path: Path, iris_package: Path) -> None:
    """Checked before the server starts: one message, exit 2."""
    result = run_cli(tmp_path, ["serve", str(tmp_path)], timeout=60)
    check_user_error(result, "not a trainforge model (no trainforge.json", "no `current`")
    (tmp_path / "current").write_text("v9\n")
    result = run_cli(tmp_path, ["serve", str(tmp_path)], timeout=60)
    check_user_error(result, "`current` points at 'v9'", "not a model package")
    result = run_cli(
        tmp_path, ["serve", str(iris_package), "--api-key-env", "TF_UNSET_KEY_XYZ"], timeout=60
    )
    check_user_error(result, "'TF_UNSET_KEY_XYZ' is not set", "--api-key-env")
    result = run_cli(tmp_path, ["serve", str(iris_package), "--request-timeout", "0"])
    check_user_error(result, "--request-timeout", "greater than 0")
