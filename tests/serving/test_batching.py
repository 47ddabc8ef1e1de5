"""The batcher alone (no server, no model): gathering, keys, failure isolation, timeouts."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from trainforge.errors import DataError
from trainforge.serving.batching import Batcher


class Recorder:
    """A model call that records its batches, doubles numbers, and refuses negatives."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[Any]] = []
        self.threads: set[str] = set()
        self.delay = delay

    def __call__(self, inputs: list[Any]) -> tuple[list[Any], str]:
        self.batches.append(list(inputs))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if any(x < 0 for x in inputs):
            raise DataError(f"negative input {min(inputs)}", where="input")
        return [2 * x for x in inputs], "v1"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _with(batcher: Batcher, *requests: tuple[list[Any], Any]) -> list[Any]:
    await batcher.start()
    try:
        tasks = [batcher.submit(inputs, key) for inputs, key in requests]
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_requests_share_one_call_in_order() -> None:
    model = Recorder()
    results = run(_with(Batcher(model, 32, 20), *[([i], "k") for i in range(10)]))
    assert [r.outputs for r in results] == [[2 * i] for i in range(10)]
    assert {r.version for r in results} == {"v1"}
    assert model.batches == [list(range(10))]
    assert model.threads == {"trainforge-model_0"}  # off the event loop


def test_batches_stop_at_max_batch_size_and_a_large_request_runs_alone() -> None:
    model = Recorder()
    requests = [([1, 2], "k"), ([3, 4], "k"), ([5, 6], "k"), (list(range(7)), "k")]
    results = run(_with(Batcher(model, 4, 20), *requests))
    assert model.batches == [[1, 2, 3, 4], [5, 6], list(range(7))]
    assert results[3].outputs == [2 * x for x in range(7)]


def test_only_requests_with_the_same_key_are_batched() -> None:
    model = Recorder()
    run(_with(Batcher(model, 32, 20), ([1], "a"), ([2], "a"), ([3], "b"), ([4], "b")))
    assert model.batches == [[1, 2], [3, 4]]


def test_max_batch_size_1_turns_batching_off() -> None:
    model = Recorder()
    run(_with(Batcher(model, 1, 20), *[([i], "k") for i in range(4)]))
    assert model.batches == [[0], [1], [2], [3]]


def test_a_failing_request_fails_alone() -> None:
    model = Recorder()
    results = run(_with(Batcher(model, 32, 20), ([1], "k"), ([-1], "k"), ([3], "k")))
    assert results[0].outputs == [2] and results[2].outputs == [6]
    assert isinstance(results[1], DataError)
    assert model.batches == [[1, -1, 3], [1], [-1], [3]]


def test_a_request_that_timed_out_is_not_computed() -> None:
    async def scenario() -> list[list[Any]]:
        model = Recorder(delay=0.2)
        batcher = Batcher(model, 1, 0)
        await batcher.start()
        first = asyncio.create_task(batcher.submit([1], "k"))
        await asyncio.sleep(0.05)  # the first call is running
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit([2], "k"), 0.01)
        assert (await first).outputs == [2]
        third = await batcher.submit([3], "k")
        assert third.outputs == [6]
        await batcher.stop()
        return model.batches

    assert run(scenario()) == [[1], [3]]
