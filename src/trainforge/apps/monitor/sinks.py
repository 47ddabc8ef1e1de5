"""Where alerts go: a JSON-lines file and a webhook, posted from a background thread.

A webhook that is down or slow never stops the monitor: each POST has a short timeout, runs
off the main loop, and failures are logged and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("trainforge.monitor")
QUEUE_SIZE = 1000  # alerts waiting for the webhook; beyond that, new ones are dropped (logged)


class AlertFile:
    """Appends each alert as one JSON line, flushed at once (tail -f shows it); "-" is stdout.

    Text is written as UTF-8, not as \\u escapes: a Chinese topic or source stays readable.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO
        if str(path) == "-":
            self._handle = sys.stdout
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = path.open("a", encoding="utf-8")

    def send(self, alert: dict[str, Any]) -> None:
        self._handle.write(json.dumps(alert, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not sys.stdout:
            self._handle.close()


class Webhook:
    """POSTs each alert as JSON to `url` from a daemon thread.

    Args:
        url: the webhook URL (http or https).
        timeout_s: seconds a POST may take (default 5).
    """

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.sent = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._run, name="monitor-webhook", daemon=True)
        self._thread.start()

    def send(self, alert: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.failed += 1
            log.warning("webhook queue full (%d alerts): alert dropped", QUEUE_SIZE)

    def close(self, wait_s: float = 5.0) -> None:
        """Post what is queued (for at most `wait_s`), then stop the thread."""
        try:
            self._queue.put(None, timeout=wait_s)
        except queue.Full:
            return
        self._thread.join(wait_s)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout_s) as client:
            while (alert := self._queue.get()) is not None:
                try:
                    response = client.post(self.url, json=alert)
                    response.raise_for_status()
                    self.sent += 1
                except httpx.HTTPError as exc:
                    self.failed += 1
                    log.warning("webhook %s failed: %s", self.url, exc)
