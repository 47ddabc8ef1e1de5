"""Serving a text_generation package: /v1/generate and the OpenAI-compatible
/v1/chat/completions, whole and streamed, called over HTTP and with the official `openai`
client against a real `trainforge serve`; batching, limits and disconnects."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, serve
from generation_support import hours_chats, tiny_lm, write_jsonl

import trainforge

KEY = "generation-test-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
QUESTIONS = ["When do you open?", "Hi there", "Where is my parcel?", "Can I pay by card?"]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer random Llama with LoRA trained a few steps (seconds): an answer is text."""
    folder = tmp_path_factory.mktemp("generation-serving")
    config = {
        "task": "text_generation",
        "data": {"train": write_jsonl(folder / "train.jsonl", hours_chats(12))},
        "model": {"backbone": tiny_lm(folder / "lm"), "finetune": "lora"},
        "train": {"epochs": 2, "batch_size": 4, "max_length": 96, "lr": 1e-2},
        "generation": {"max_new_tokens": 16},
    }
    run = trainforge.train(config, output=folder / "run", progress=False)
    return Path(run.package_dir)


@pytest.fixture(scope="module")
def server(package: Path) -> Iterator[Server]:
    yield from serve(
        package, "--api-key-env", "TF_KEY", "--max-new-tokens", "480", env={"TF_KEY": KEY}
    )


@pytest.fixture(scope="module")
def local(package: Path) -> Any:
    return trainforge.load(package)


def post(server: Server, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=HEADERS, timeout=60, **kwargs)


def events(response: httpx.Response) -> list[Any]:
    """The JSON payloads of a server-sent event stream ([DONE] as the string)."""
    assert response.headers["content-type"].startswith("text/event-stream")
    found = re.findall(r"^data: (.*)$", response.text, flags=re.MULTILINE)
    return [item if item == "[DONE]" else json.loads(item) for item in found]


def test_generate_answers_each_prompt_as_the_package_does(server: Server, local: Any) -> None:
    response = post(server, "/v1/generate", {"prompt": QUESTIONS, "max_tokens": 12})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["text"] for c in body["completions"]] == local.generate(QUESTIONS, max_new_tokens=12)
    for completion in body["completions"]:
        assert completion["prompt_tokens"] > 0
        assert 0 < completion["completion_tokens"] <= 12
        assert completion["finish_reason"] in ("stop", "length")
    one = post(server, "/v1/generate", {"prompt": "When do you open?"}).json()
    # Without max_tokens: the package's generation.max_new_tokens (16).
    assert one["completions"][0]["text"] == local.generate("When do you open?")


def test_a_streamed_generation_is_the_whole_one_in_pieces(server: Server) -> None:
    body = {"prompt": "Where is my parcel?", "max_tokens": 40}
    whole = post(server, "/v1/generate", body).json()["completions"][0]
    streamed = events(post(server, "/v1/generate", {**body, "stream": True}))
    assert streamed[-1] == "[DONE]" and len(streamed) > 4  # pieces, not one block
    end = streamed[-2]
    assert "".join(e["text"] for e in streamed[:-2]) == whole["text"]
    assert end["finish_reason"] == whole["finish_reason"]
    assert end["completion_tokens"] == whole["completion_tokens"]


def test_the_openai_client_works_unchanged_streamed_and_not(server: Server) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    messages = [
        {"role": "system", "content": "You answer for Brightside."},
        {"role": "user", "content": "When do you open?"},
    ]
    whole = client.chat.completions.create(model="any", messages=messages, max_tokens=30)
    assert whole.object == "chat.completion" and whole.model == "any"
    answer = whole.choices[0]
    assert answer.message.role == "assistant" and answer.message.content
    assert answer.finish_reason in ("stop", "length")
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    chunks = list(
        client.chat.completions.create(
            model="any",
            messages=messages,
            max_tokens=30,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer.message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == answer.finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    listed = client.models.list().data
    assert len(listed) == 1 and listed[0].id
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="any", messages=messages)


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(
    server: Server, local: Any
) -> None:
    prompts = [f"{QUESTIONS[i % 4]} ({i})" for i in range(16)]
    expected = local.generate(prompts, max_new_tokens=8)
    calls_before, single_before = model_calls(server)

    def ask(prompt: str) -> str:
        response = post(server, "/v1/generate", {"prompt": prompt, "max_tokens": 8})
        assert response.status_code == 200, response.text
        return str(response.json()["completions"][0]["text"])

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, prompts))
    assert answers == expected
    calls, single = model_calls(server)
    assert calls - calls_before < 16  # fewer model calls than requests
    assert calls - calls_before > single - single_before  # some held several requests


def model_calls(server: Server) -> tuple[float, float]:
    """(model calls so far, those of one input), from the server's metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    count = re.search(r"^trainforge_batch_size_count ([\d.]+)$", text, re.MULTILINE)
    single = re.search(r'^trainforge_batch_size_bucket\{le="1.0"\} ([\d.]+)$', text, re.M)
    assert count is not None and single is not None, text
    return float(count.group(1)), float(single.group(1))


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"max_tokens": 0}, "max_tokens", "greater than or equal to 1"),
        ({"max_tokens": 481}, "max_tokens", "--max-new-tokens"),
        ({"n": 2}, "n", "one answer"),
        ({"logprobs": True}, "logprobs", "not offered"),
        ({"temperature": -1}, "temperature", "greater than or equal to 0"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages", "unknown role"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages", "user's turn"),
        ({"messages": [{"role": "user", "content": " "}]}, "messages", "empty"),
        ({"messages": [{"role": "user", "content": "pay " * 600}]}, "messages", "context"),
        ({"tools": []}, "tools", "Extra inputs"),
    ],
)
def test_chat_requests_the_server_cannot_honour_get_422_naming_the_field(
    server: Server, body: dict[str, Any], field: str, says: str
) -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    response = post(server, "/v1/chat/completions", request)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(field in map(str, d["loc"]) and says in d["msg"] for d in detail), detail


def test_a_body_over_the_limit_gets_413_and_no_key_401(server: Server) -> None:
    huge = {"model": "m", "messages": [{"role": "user", "content": "x" * 2_000_000}]}
    assert post(server, "/v1/chat/completions", huge).status_code == 413
    anonymous = httpx.post(f"{server.url}/v1/generate", json={"prompt": "hi"}, timeout=10)
    assert anonymous.status_code == 401


def test_a_client_that_leaves_a_stream_stops_its_generation(server: Server) -> None:
    def cancelled() -> float:
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        found = re.search(
            r'^trainforge_generations_total\{finish_reason="cancelled"\} ([\d.]+)$', text, re.M
        )
        return float(found.group(1)) if found else 0.0

    before = cancelled()
    body = {"prompt": "Tell me everything about your shop.", "max_tokens": 480, "stream": True}
    with httpx.stream(
        "POST", f"{server.url}/v1/generate", json=body, headers=HEADERS, timeout=30
    ) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the first piece arrived: leave
    deadline = time.monotonic() + 20
    while cancelled() == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cancelled() == before + 1
    # The model is free again: the next request is answered at once.
    assert post(server, "/v1/generate", {"prompt": "Hi", "max_tokens": 4}).status_code == 200


def test_generation_routes_on_another_kind_of_model_answer_404(iris_package: Path) -> None:
    for running in serve(iris_package):
        response = httpx.post(
            f"{running.url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert response.status_code == 404
        assert "does not generate text" in response.json()["detail"]
