"""Lines of the stream → checked records; a bad line becomes a reason, never an exception.

A line is a JSON object `{"time": ..., "text": ..., "source": ...}`: `text` is required and
non-empty, `time` is ISO-8601 or epoch seconds (missing: the arrival time), `source` is any
string (optional).
"""

from __future__ import annotations

import json
import time as clock
from dataclasses import dataclass
from typing import Any

from trainforge.apps.monitor.core import parse_time

MAX_TEXT_CHARS = 10_000  # longer texts are cut (the model truncates far earlier anyway)


@dataclass(frozen=True)
class Record:
    """One valid line of the stream."""

    time: float
    text: str
    source: str | None = None


def parse_item(item: Any, arrival: float | None = None) -> Record | str:
    """A record from one decoded JSON value, or the reason it is malformed.

    Args:
        item: what one line (or one element of an ingest request) holds.
        arrival: the time used when the item has none (default: now).
    """
    if not isinstance(item, dict):
        return f"expected a JSON object, got {_kind(item)}"
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        return "'text' is missing, empty or not a string"
    source = item.get("source")
    if source is not None and not isinstance(source, str):
        return f"'source' must be a string, got {_kind(source)}"
    raw_time = item.get("time")
    if raw_time is None:
        moment = clock.time() if arrival is None else arrival
    else:
        try:
            moment = parse_time(raw_time)
        except ValueError as exc:
            return str(exc)
    return Record(time=moment, text=text[:MAX_TEXT_CHARS], source=source)


def parse_line(line: bytes | str, arrival: float | None = None) -> Record | str | None:
    """A record from one line of JSON, the reason it is malformed, or None for a blank line."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"not UTF-8 ({exc.reason} at byte {exc.start})"
    if not line.strip():
        return None
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc.msg} at column {exc.colno})"
    return parse_item(item, arrival)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else "null")
