"""One answer generated token by token: `TextStream` yields the text as it is written.

transformers' own `generate` writes the tokens (so a streamed greedy answer is exactly the
non-streamed one), on a thread of the stream's own. After every token a stopping criterion
(`_Pieces`) decodes the answer so far, hands the new text to the reader, and stops the
generation when the answer is done, a stop string appears or the reader cancelled.

Text is handed on only once it is final: not while it ends inside a UTF-8 character that a
later token completes, nor while its end could be the start of a stop string.

A server shares one model between streams and batches of other requests: with a `Turns`
(`trainforge.models.turns`) a stream takes a turn per token, so many streams and the batches
interleave, and no two model calls ever run at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from trainforge.config import GenerationConfig
from trainforge.models.causal_lm import (
    CausalLM,
    before_stop,
    context_size,
    generate_settings,
    new_tokens,
)
from trainforge.models.turns import Turns

_DONE = object()  # the queue's last item


class TextStream:
    """The answer to one prompt, piece by piece; the counts are known once it is done.

    Iterating starts the generation (or `start` does) and blocks until the next piece; the
    pieces joined are the answer `generate_answers` gives for the same prompt (greedy).

    Args:
        net: the `CausalLM`.
        tokenizer: its tokenizer.
        prompt: the prompt's token ids (a rendered chat prompt).
        options: the decoding options.
        ends: the token ids that end an answer.

    Attributes:
        prompt_tokens: tokens of the prompt.
        completion_tokens: tokens generated so far, the one that ended the answer included.
        finish_reason: None while running; then 'stop' (end of turn or stop string), 'length'
            (max_new_tokens or the context reached) or 'cancelled'.
        text: the text handed on so far.

    Example:
        >>> for piece in TextStream(net, tokenizer, ids, GenerationConfig(), ends):
        ...     print(piece, end="", flush=True)
    """

    def __init__(
        self,
        net: CausalLM,
        tokenizer: Any,
        prompt: list[int],
        options: GenerationConfig,
        ends: list[int],
    ) -> None:
        self.net = net
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.options = options
        self.ends = ends
        self.prompt_tokens = len(prompt)
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.text = ""
        self._pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, turns: Turns | None = None, notify: Callable[[], None] | None = None) -> None:
        """Start generating on a thread of its own (once; iterating calls it too).

        Args:
            turns: taken for every model step, when the model is shared (the server's).
            notify: called on that thread whenever a piece (or the end) is ready, e.g. to
                wake an event loop that reads the pieces with `ready`.
        """
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._generate, args=(turns, notify), name="trainforge-stream", daemon=True
        )
        self._thread.start()

    def cancel(self) -> None:
        """Stop generating after the current token (e.g. the reader went away)."""
        self._cancelled.set()

    def __iter__(self) -> Iterator[str]:
        self.start()
        try:
            while True:
                pieces, done = self.ready(block=True)
                yield from pieces
                if done:
                    return
        finally:  # the reader stopped early (break): no need to write the rest
            self.cancel()

    def ready(self, block: bool = False) -> tuple[list[str], bool]:
        """(the pieces written since the last call, whether the answer is done); waits for at
        least one of them with `block`. Raises what the generation raised."""
        pieces: list[str] = []
        try:
            item = self._pieces.get(block=block)
            while True:
                if item is _DONE:
                    return pieces, True
                if isinstance(item, BaseException):
                    raise item
                pieces.append(item)
                item = self._pieces.get_nowait()
        except queue.Empty:
            return pieces, False

    def _generate(self, turns: Turns | None, notify: Callable[[], None] | None) -> None:
        from transformers import StoppingCriteriaList

        lm = self.net.encoder
        device = next(self.net.parameters()).device
        criterion = _Pieces(self, turns, notify)
        settings = generate_settings(self.tokenizer, self.options, self.ends)
        room = new_tokens(self.options.max_new_tokens, len(self.prompt), context_size(self.net))
        criterion.room = room
        ids = torch.tensor([self.prompt], dtype=torch.long, device=device)
        if turns is not None:
            turns.acquire()
        try:
            if self.options.seed is not None:
                torch.manual_seed(self.options.seed)
                criterion.rng = _RngState(device)
            if not self._cancelled.is_set():
                with torch.inference_mode():
                    lm.generate(
                        input_ids=ids,
                        attention_mask=torch.ones_like(ids),
                        stopping_criteria=StoppingCriteriaList([criterion]),
                        **{**settings, "max_new_tokens": room},
                    )
            criterion.finish()
        except BaseException as exc:  # handed to the reader, who raises it
            self._pieces.put(exc)
        finally:
            if turns is not None:
                turns.release()
            self._pieces.put(_DONE)
            if notify is not None:
                notify()


class _Pieces:
    """The stopping criterion that turns each new token into text for the reader."""

    def __init__(
        self, stream: TextStream, turns: Turns | None, notify: Callable[[], None] | None
    ) -> None:
        self.stream = stream
        self.turns = turns
        self.notify = notify
        self.room = stream.options.max_new_tokens
        self.rng: _RngState | None = None
        self.ids: list[int] = []
        self.full = ""  # the whole answer decoded, stop strings not yet cut

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        stream = self.stream
        token = int(input_ids[0, -1])
        stream.completion_tokens += 1
        done = False
        if token in stream.ends:
            stream.finish_reason, done = "stop", True
        else:
            self.ids.append(token)
            self.full = str(stream.tokenizer.decode(self.ids, skip_special_tokens=True))
            if before_stop(self.full, stream.options.stop) != self.full:
                stream.finish_reason, done = "stop", True
            else:
                self._hand_on(self._final_part(self.full))
        if stream.completion_tokens >= self.room and not done:
            stream.finish_reason, done = "length", True
        if stream._cancelled.is_set() and not done:
            stream.finish_reason, done = "cancelled", True
        if not done and self.turns is not None:
            if self.rng is not None:
                self.rng.save()
            self.turns.handover()
            if self.rng is not None:
                self.rng.restore()
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    def finish(self) -> None:
        """Hand on the rest of the answer (held back in case a stop string began there)."""
        stream = self.stream
        if stream.finish_reason is None:  # generate stopped by itself
            if stream._cancelled.is_set():
                stream.finish_reason = "cancelled"
            else:  # its stop-string criterion also stops where one may end across tokens
                stream.finish_reason = "length" if stream.completion_tokens >= self.room else "stop"
        if stream.finish_reason != "cancelled":
            self._hand_on(before_stop(self.full, stream.options.stop))

    def _final_part(self, text: str) -> str:
        """The part of `text` no later token can change."""
        end = len(text.rstrip("\ufffd"))  # a character whose bytes are not all there yet
        for stop in self.stream.options.stop:
            for k in range(min(len(stop) - 1, end), 0, -1):
                if text[:end].endswith(stop[:k]):
                    end -= k
                    break
        return text[:end]

    def _hand_on(self, text: str) -> None:
        stream = self.stream
        if len(text) > len(stream.text) and text.startswith(stream.text):
            stream._pieces.put(text[len(stream.text) :])
            stream.text = text
            if self.notify is not None:
                self.notify()


class _RngState:
    """The random state of a seeded stream, kept apart while other calls take their turns,
    so that its samples are those it draws alone."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.state: torch.Tensor | None = None

    def save(self) -> None:
        self.state = (
            torch.cuda.get_rng_state(self.device) if self.cuda else torch.random.get_rng_state()
        )

    def restore(self) -> None:
        if self.state is None:
            return
        if self.cuda:
            torch.cuda.set_rng_state(self.state, self.device)
        else:
            torch.random.set_rng_state(self.state)
