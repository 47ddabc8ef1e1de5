"""`Turns`: model calls one at a time, first come first served, across threads.

A server shares one model between streamed answers (each on its own thread, one turn per
token) and batches of other requests (one turn per call); torch would otherwise run them at
once and each would crawl.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    """Model calls one at a time, in the order they asked (a ticket lock).

    Example:
        >>> turns = Turns()
        >>> with turns.turn():
        ...     model.predict(rows)
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._issued = 0
        self._serving = 0

    def acquire(self) -> None:
        """Wait for this thread's turn."""
        with self._changed:
            ticket = self._issued
            self._issued += 1
            self._changed.wait_for(lambda: self._serving == ticket)

    def release(self) -> None:
        """End this thread's turn: the next in line goes."""
        with self._changed:
            self._serving += 1
            self._changed.notify_all()

    def handover(self) -> None:
        """Let everyone waiting go first, then carry on."""
        self.release()
        self.acquire()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold a turn for the duration of the block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()
