"""Generation in the server: batched answers, streamed answers, and one model call at a time.

Requests that are not streamed go through the `Batcher` as `Ask`s: asks with the same decoding
options share a `GenerationModel.complete` call (prompts padded on the left, so each answer is
what it would be alone under greedy decoding). A streamed answer runs on a thread of its own
(`TextStream`) and takes one model step at a time; the batcher's calls and every stream share
one `Turns`, so no two model calls run at once and streams interleave token by token with each
other and with the batches. A stream whose client went away stops at its next token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainforge.models.turns import Turns
from trainforge.serving.metrics import ServiceMetrics

if TYPE_CHECKING:
    from trainforge.models.causal_lm_stream import TextStream


@dataclass(frozen=True)
class Ask:
    """One conversation to answer (ending with the user's turn) and its decoding options."""

    turns: list[dict[str, str]]
    options: tuple[tuple[str, Any], ...]

    @staticmethod
    def of(turns: list[dict[str, str]], options: dict[str, Any]) -> Ask:
        frozen = tuple(
            sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())
        )
        return Ask(turns, frozen)

    @property
    def key(self) -> Hashable:
        """Asks with equal keys may share a model call."""
        return ("generate", self.options)

    def decoding(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.options}


def answer_asks(model: Any, asks: list[Ask]) -> list[Any]:
    """The `Completion` of every ask (all with the same options: the batcher keys them so)."""
    return list(model.complete([ask.turns for ask in asks], **asks[0].decoding()))


def model_call(
    holder: Any, turns: Turns, metrics: ServiceMetrics
) -> Callable[[list[Any]], tuple[list[Any], str]]:
    """The batcher's model call: predictions, or the completions of `Ask`s; one at a time."""

    def call(inputs: list[Any]) -> tuple[list[Any], str]:
        # One reference for the whole batch: a swap during the call does not affect it.
        loaded = holder.current
        if loaded is None:
            raise RuntimeError("no model loaded")  # routes check readiness before queueing
        with turns.turn():
            if inputs and isinstance(inputs[0], Ask):
                completions = answer_asks(loaded.model, inputs)
                for completion in completions:
                    metrics.generated(completion)
                return completions, loaded.version
            return loaded.model.predict(inputs), loaded.version

    return call


async def pieces(
    stream: TextStream, turns: Turns, metrics: ServiceMetrics
) -> AsyncIterator[list[str]]:
    """The pieces of a stream as they come, in groups that were ready together.

    Closing the iterator (the client went away) cancels the generation at its next token.
    """
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()

    def wake() -> None:  # on the stream's thread
        loop.call_soon_threadsafe(ready.set)

    stream.start(turns, notify=wake)
    try:
        while True:
            ready.clear()
            got, done = stream.ready()
            if got:
                yield got
            if done:
                return
            if not got:
                await ready.wait()
    finally:
        stream.cancel()
        metrics.generated(stream)


def event(data: Any) -> str:
    """One server-sent event carrying `data` as JSON (or `[DONE]` as is)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"
