"""A real `python -m trainforge.cli serve` process answering /v1/recommend and /v1/predict."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from serving.conftest import Server


@pytest.fixture(scope="module")
def server(synthetic_run: Any) -> Iterator[Server]:
    running = Server(synthetic_run.model_dir).wait_ready()
    yield running
    running.stop()


def test_recommend_known_user(server: Server, synthetic_run: Any) -> None:
    response = httpx.get(f"{server.url}/v1/recommend", params={"user": "u7", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == "u7" and body["known_user"] and body["fallback"] is None
    assert [i["item"] for i in body["items"]] == [
        i["item"] for i in synthetic_run.model.predict(["u7"], k=5)[0]["items"]
    ]
    assert body["model_version"] == "v1"


def test_unknown_user_gets_popular_items_flagged(server: Server) -> None:
    body = httpx.get(f"{server.url}/v1/recommend", params={"user": "stranger"}).json()
    assert body["fallback"] == "popularity" and not body["known_user"]
    assert len(body["items"]) == 10


@pytest.mark.parametrize("k", ["0", "1001", "ten"])
def test_bad_k_is_422(server: Server, k: str) -> None:
    response = httpx.get(f"{server.url}/v1/recommend", params={"user": "u7", "k": k})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "k"]


def test_missing_user_is_422(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/recommend").status_code == 422


def test_predict_route_takes_user_objects(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/v1/predict", json={"inputs": [{"user": "u1", "k": 3}, {"user": "u2"}]}
    )
    assert response.status_code == 200, response.text
    first, second = response.json()["predictions"]
    assert len(first["items"]) == 3 and len(second["items"]) == 10
    bad = httpx.post(f"{server.url}/v1/predict", json={"inputs": [{"user": "u1", "k": 0}]})
    assert bad.status_code == 422
    text = httpx.post(f"{server.url}/v1/predict", json={"inputs": ["u1"]})
    assert text.status_code == 422


def test_metadata_gives_the_input_schema(server: Server) -> None:
    body = httpx.get(f"{server.url}/v1/metadata").json()
    assert body["task"] == "recommendation"
    assert body["input_schema"]["required"] == ["user"]
    assert "ndcg_at_10" in body["metrics"]["test"]
