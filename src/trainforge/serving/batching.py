"""Dynamic batching: concurrent requests share one model call.

Requests wait in a queue; one worker task takes the first, lets others join it for at most
`max_wait_ms` (or until `max_batch_size` inputs), and runs the whole batch in one model call on
a dedicated thread, so the event loop stays free and only one model call runs at a time. While
that call runs, new requests queue up and form the next batch: under load, batches fill by
themselves, and a lone request waits only `max_wait_ms`.

Only requests with the same `key` (the shape of their inputs, e.g. the same table columns) are
batched together, so a request is predicted exactly as it would be alone. When a shared call
fails, each request is run again on its own, so one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# The model call: inputs -> (one output per input, version of the model that produced them).
Predict = Callable[[list[Any]], tuple[list[Any], str]]


@dataclass(frozen=True)
class BatchResult:
    """The outputs of one request and the version of the model that computed them."""

    outputs: list[Any]
    version: str


@dataclass
class _Pending:
    inputs: list[Any]
    key: Hashable
    future: asyncio.Future[BatchResult] = field(repr=False)


class Batcher:
    """Gathers concurrent requests into batches and runs them on one worker thread.

    Args:
        predict: the blocking model call (run on the worker thread).
        max_batch_size: most inputs per call; a larger request runs alone. 1: no batching.
        max_wait_ms: how long the first request of a batch waits for others.
        on_batch: called with the number of inputs of every model call (for metrics).

    Example:
        >>> batcher = Batcher(predict, max_batch_size=32, max_wait_ms=2)
        >>> await batcher.start()
        >>> result = await batcher.submit(["great film"], key="text")
    """

    def __init__(
        self,
        predict: Predict,
        max_batch_size: int = 32,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # A request that could not join the batch being formed starts the next one.
        self._held: deque[_Pending] = deque()
        self._executor: ThreadPoolExecutor | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the worker task and the model thread."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainforge-model")
        self._worker = asyncio.create_task(self._run(), name="trainforge-batcher")

    async def stop(self) -> None:
        """Stop the worker; requests still queued are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for pending in [*self._held, *_drain(self._queue)]:
            pending.future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, inputs: list[Any], key: Hashable) -> BatchResult:
        """Queue `inputs` and wait for their outputs. Cancelling (e.g. a timeout) drops them
        from the queue if their batch has not started yet."""
        future: asyncio.Future[BatchResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(inputs, key, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            batch = [p for p in batch if not p.future.done()]  # drop timed-out requests
            if batch:
                await self._call(batch)

    async def _gather(self) -> list[_Pending]:
        first = self._held.popleft() if self._held else await self._queue.get()
        batch, size = [first], len(first.inputs)
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while size < self.max_batch_size:
            try:
                pending = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    pending = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if pending.key != first.key or size + len(pending.inputs) > self.max_batch_size:
                self._held.append(pending)
                break
            batch.append(pending)
            size += len(pending.inputs)
        return batch

    async def _call(self, batch: list[_Pending]) -> None:
        inputs = [x for pending in batch for x in pending.inputs]
        try:
            outputs, version = await self._in_thread(inputs)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0].future, exception=exc)
                return
            # Find the culprit: every request again on its own.
            for pending in batch:
                await self._call([pending])
            return
        start = 0
        for pending in batch:
            end = start + len(pending.inputs)
            _settle(pending.future, result=BatchResult(outputs[start:end], version))
            start = end

    async def _in_thread(self, inputs: list[Any]) -> tuple[list[Any], str]:
        if self.on_batch is not None:
            self.on_batch(len(inputs))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.predict, inputs)


def _settle(
    future: asyncio.Future[BatchResult],
    result: BatchResult | None = None,
    exception: BaseException | None = None,
) -> None:
    if future.done():  # the client gave up (timeout) while its batch ran
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)  # type: ignore[arg-type]


def _drain(queue: asyncio.Queue[_Pending]) -> list[_Pending]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items
