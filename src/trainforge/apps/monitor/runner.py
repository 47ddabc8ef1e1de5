"""The monitor at work: lines in, classified in batches, counted in windows, alerts out.

`OpinionMonitor` joins the pure window logic (`core`) to the models (`classify`) and the I/O
(`sources`, `sinks`, `checkpoint`). The CLI, the HTTP ingest route and the benchmark all feed
it through `feed_lines` / `feed_items`, so each input path counts and alerts the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainforge.apps.monitor.checkpoint import Checkpoint
from trainforge.apps.monitor.classify import Classifier
from trainforge.apps.monitor.core import MonitorSettings, Observation, WindowMonitor
from trainforge.apps.monitor.records import Record, parse_item, parse_line
from trainforge.apps.monitor.sinks import AlertFile, Webhook
from trainforge.apps.monitor.sources import FileTail, StdinLines

log = logging.getLogger("trainforge.monitor")
LOGGED_MALFORMED = 20  # malformed lines logged one by one; after that, every 1000th
# Lines read at a time. The model sorts a chunk by length before batching it, so a large chunk
# pads far less: 1,024 lines in batches of 32 classify 2.4x faster than chunks of 64 lines.
CHUNK_LINES = 1024


@dataclass
class Counters:
    """Lines seen since the state was created (they survive restarts with the state)."""

    lines: int = 0  # non-blank lines read or items received
    valid: int = 0
    malformed: int = 0
    alerts: int = 0


@dataclass
class FeedResult:
    """What one chunk of input did: counts, the malformed items and why, the alerts raised."""

    accepted: int = 0
    malformed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)


class OpinionMonitor:
    """Classifies lines, keeps the windows, raises alerts, checkpoints its state.

    Args:
        classifier: the sentiment (and topic) models.
        settings: windows, baseline and alert rules.
        alerts: a JSON-lines file alerts are appended to, or None.
        webhook: an URL each alert is POSTed to, or None.
        checkpoint: where the state is saved and restored from, or None.
    """

    def __init__(
        self,
        classifier: Classifier,
        settings: MonitorSettings,
        *,
        alerts: Path | None = None,
        webhook: str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.classifier = classifier
        self.windows = WindowMonitor(settings)
        self.counters = Counters()
        self.checkpoint = checkpoint
        self.source: FileTail | StdinLines | None = None
        self.source_lines = 0  # lines read from the current input (for line numbers in logs)
        self.lock = threading.RLock()  # one chunk at a time: the file loop and HTTP ingest
        self._sinks: list[AlertFile | Webhook] = []
        if alerts is not None:
            self._sinks.append(AlertFile(alerts))
        self.webhook = Webhook(webhook) if webhook else None
        if self.webhook is not None:
            self._sinks.append(self.webhook)

    # --- state ---------------------------------------------------------------------------

    def restore(self, source: FileTail | StdinLines | None = None) -> bool:
        """Take the checkpoint's windows and counters; a file input continues from its saved
        byte offset when it is the same file. Returns whether a state was restored."""
        self.source = source
        if self.checkpoint is None or (state := self.checkpoint.load()) is None:
            return False
        try:
            self.windows.load_state_dict(state["monitor"])
            self.counters = Counters(**state["counters"])
            saved = state.get("input") or {}
        except (KeyError, TypeError, ValueError) as exc:
            raise self.checkpoint.unreadable(f"unexpected content: {exc}") from None
        if isinstance(source, FileTail) and saved.get("path") == str(source.path.resolve()):
            source.offset = int(saved.get("offset", 0))
            self.source_lines = int(saved.get("lines", 0))
        log.info("restored %d lines of state from %s", self.counters.lines, self.checkpoint.path)
        return True

    def state_dict(self) -> dict[str, Any]:
        source = self.source
        return {
            "monitor": self.windows.state_dict(),
            "counters": asdict(self.counters),
            "input": (
                {
                    "name": source.name,
                    "path": str(source.path.resolve()) if isinstance(source, FileTail) else None,
                    "offset": source.offset,
                    "lines": self.source_lines,
                }
                if source is not None
                else None
            ),
        }

    def save(self) -> None:
        """Write the checkpoint now (no-op without one)."""
        if self.checkpoint is not None:
            with self.lock:
                self.checkpoint.save(self.state_dict())

    def close(self) -> None:
        """Save the state, post the queued alerts, close files."""
        self.save()
        for sink in self._sinks:
            sink.close()
        if self.source is not None:
            self.source.close()

    # --- feeding -------------------------------------------------------------------------

    def feed_lines(self, lines: list[bytes]) -> FeedResult:
        """Process lines read from the input (JSON objects, one a line); blank ones are skipped."""
        with self.lock:
            now = time.time()
            records: list[Record] = []
            errors: list[dict[str, Any]] = []
            for line in lines:
                parsed = parse_line(line, arrival=now)
                if parsed is None:
                    continue
                self.source_lines += 1
                if isinstance(parsed, str):
                    errors.append({"line": self.source_lines, "error": parsed})
                else:
                    records.append(parsed)
            return self._process(records, errors)

    def feed_items(self, items: list[Any]) -> FeedResult:
        """Process decoded JSON values (HTTP ingest); errors name the item's index."""
        with self.lock:
            now = time.time()
            records: list[Record] = []
            errors: list[dict[str, Any]] = []
            for index, item in enumerate(items):
                parsed = parse_item(item, arrival=now)
                if isinstance(parsed, str):
                    errors.append({"index": index, "error": parsed})
                else:
                    records.append(parsed)
            return self._process(records, errors)

    def _process(self, records: list[Record], errors: list[dict[str, Any]]) -> FeedResult:
        result = FeedResult(accepted=len(records), malformed=len(errors), errors=errors)
        self.counters.lines += len(records) + len(errors)
        self.counters.valid += len(records)
        for error in errors:
            self.counters.malformed += 1
            self._log_malformed(error)
        verdicts = self.classifier.classify([r.text for r in records])
        for record, verdict in zip(records, verdicts, strict=True):
            observation = Observation(record.time, verdict.topic, verdict.negative)
            for alert in self.windows.add(observation):
                self._raise(alert, record)
                result.alerts.append(alert)
        if self.checkpoint is not None and self.checkpoint.due(len(records) + len(errors)):
            self.checkpoint.save(self.state_dict())
        return result

    def _raise(self, alert: dict[str, Any], record: Record) -> None:
        self.counters.alerts += 1
        if record.source is not None:
            alert["source"] = record.source
        log.warning(
            "alert: topic %s negative share %.2f (baseline %.2f, %d lines)",
            alert["topic"],
            alert["negative_share"],
            alert["baseline_mean"],
            alert["count"],
        )
        for sink in self._sinks:
            sink.send(alert)

    def _log_malformed(self, error: dict[str, Any]) -> None:
        n = self.counters.malformed
        if n <= LOGGED_MALFORMED or n % 1000 == 0:
            place = (
                f"{self.source.name if self.source else 'input'} line {error['line']}"
                if "line" in error
                else f"ingest item {error['index']}"
            )
            suffix = f" ({n} malformed so far)" if n > LOGGED_MALFORMED else ""
            log.warning("malformed %s: %s%s", place, error["error"], suffix)

    # --- reading an input ----------------------------------------------------------------

    def run(
        self,
        source: FileTail | StdinLines,
        *,
        follow: bool,
        stop: threading.Event,
        chunk_lines: int = CHUNK_LINES,
        poll_s: float = 0.5,
    ) -> None:
        """Read `source` in chunks of up to `chunk_lines` lines (what is there: a live stream
        waits for nothing) until it ends (stdin closed, or the end of a file that is not
        followed) or `stop` is set."""
        while not stop.is_set():
            if isinstance(source, StdinLines):
                lines = source.read(chunk_lines, wait_s=poll_s)
                if lines:
                    self.feed_lines(lines)
                elif source.ended:
                    return
                continue
            with self.lock:  # read and count together: the saved offset matches the counts
                lines = source.read(chunk_lines, final=not follow)
                if lines:
                    self.feed_lines(lines)
            if not lines:
                if not follow:
                    return
                stop.wait(poll_s)

    def status(self) -> dict[str, Any]:
        """Counters, input position, webhook results, windows per topic and recent alerts."""
        with self.lock:
            source = self.source
            return {
                "counters": asdict(self.counters),
                "input": (
                    {"name": source.name, "offset": source.offset} if source is not None else None
                ),
                "negative_label": self.classifier.negative_label,
                "webhook": (
                    {"sent": self.webhook.sent, "failed": self.webhook.failed}
                    if self.webhook
                    else None
                ),
                **self.windows.snapshot(),
            }
