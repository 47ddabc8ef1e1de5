"""The assistant's server, started for real: `python -m trainforge.cli assistant MODEL --faq F`
in a subprocess on a free loopback port, called over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving.conftest import Server

from apps.test_assistant import FAQ, train_demo

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning")]

MAX_BODY = 2_000


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("assistant_server")


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[Server]:
    package = train_demo(folder)
    running = Server(
        package,
        "--faq", str(FAQ),
        "--log", str(folder / "conversations.jsonl"),
        "--max-body-bytes", str(MAX_BODY),
        "--api-key-env", "ASSISTANT_TEST_KEY",
        env={"ASSISTANT_TEST_KEY": "s3cret"},
        command="assistant",
    )  # fmt: skip
    try:
        yield running.wait_ready(timeout=90)
    finally:
        running.stop()


def ask(server: Server, body: object, key: str | None = "s3cret", **kw: object) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{server.url}/v1/ask", json=body, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def test_ask_answers_and_hands_off(server: Server, folder: Path) -> None:
    answered = ask(server, {"question": "I lost my card", "conversation_id": "chat-7"})
    assert answered.status_code == 200, answered.text
    reply = answered.json()
    assert reply["intent"] == "card_lost" and reply["source"] == "intent"
    assert reply["handoff"] is False and reply["answer"].startswith("Freeze your card")
    assert reply["conversation_id"] == "chat-7"

    handed = ask(server, {"question": "What's the weather like in Lisbon today?"}).json()
    assert handed["handoff"] is True and handed["answer"] is None
    assert handed["source"] == "handoff" and len(handed["conversation_id"]) == 32

    records = [json.loads(x) for x in (folder / "conversations.jsonl").read_text().splitlines()]
    assert [(r["conversation_id"], r["source"]) for r in records] == [
        ("chat-7", "intent"),
        (handed["conversation_id"], "handoff"),
    ]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "question"]),
        ({"question": 3}, ["body", "question"]),
        ({"question": "   "}, ["body", "question"]),
        ({"question": "hi", "conversation_id": "no spaces allowed"}, ["body", "conversation_id"]),
        ({"question": "hi", "converstion_id": "x"}, ["body", "converstion_id"]),
    ],
    ids=["missing", "not_a_string", "blank", "bad_conversation_id", "unknown_field"],
)
def test_bad_bodies_get_422_naming_the_field(server: Server, body: object, loc: list[str]) -> None:
    response = ask(server, body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_not_json_oversize_and_no_key(server: Server) -> None:
    not_json = httpx.post(
        f"{server.url}/v1/ask", content=b"hello", headers={"X-API-Key": "s3cret"}, timeout=30
    )
    assert not_json.status_code == 422
    assert "Content-Type: application/json" in not_json.json()["detail"][0]["msg"]
    oversize = ask(server, {"question": "x" * (MAX_BODY + 10)})
    assert oversize.status_code == 413
    assert "--max-body-bytes" in oversize.json()["detail"]
    assert ask(server, {"question": "I lost my card"}, key=None).status_code == 401
    assert ask(server, {"question": "I lost my card"}, key="wrong").status_code == 401


def test_status_routes(server: Server) -> None:
    assert httpx.get(f"{server.url}/v1/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/v1/metadata").status_code == 401
    info = httpx.get(f"{server.url}/v1/metadata", headers={"X-API-Key": "s3cret"}).json()
    assert sorted(info["intents"]) == [
        "card_arrival", "card_lost", "change_pin", "close_account", "transfer_failed",
    ]  # fmt: skip
    assert info["intents_without_answer"] == []
    assert "precision 0.95" in info["threshold_source"] and 0 < info["threshold"] < 1
    assert info["limits"]["max_body_bytes"] == MAX_BODY
    ask(server, {"question": "How do I close my account?"})
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'trainforge_assistant_replies_total{source="intent"}' in metrics
    assert 'trainforge_requests_total{method="POST",path="/v1/ask",status="413"}' in metrics


def test_generated_requests_never_get_a_server_error(server: Server, folder: Path) -> None:
    """schemathesis (its CLI): schema-driven valid and invalid requests to every route, seeded
    and bounded; fails on any 5xx."""
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.url}/openapi.json",
        "--checks", "not_a_server_error", "--seed", "7", "--generation-database", "none",
        "--no-color", "--workers", "2", "--header", "X-API-Key: s3cret",
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=folder, check=False
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 generated" not in result.stdout
