"""Sliding windows of sentiment per topic, their baseline, and alerts: pure logic, no I/O.

Time is event time (the `time` of each line), so a replayed stream gives the same windows and
alerts as the live one. Counts are kept in steps of `window / steps` seconds; the current
window is the last `steps` steps up to the newest event, and its baseline is the negative share
of each of the `baseline_windows` windows before it. An alert fires when the current window
holds at least `min_count` lines and its negative share exceeds the baseline mean by more than
`threshold_std` deviations. Then the topic stays quiet until its share is back to normal
(within one deviation of the baseline mean: a burst keeps the window high for a whole window
length after it ends, and a share hovering at the threshold must not flap) and at least
`cooldown` seconds have passed: one burst, one alert.

    monitor = WindowMonitor(MonitorSettings(window_s=300))
    alerts = monitor.add(Observation(time=1_700_000_000.0, topic="all", negative=True))
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainforge.errors import ConfigError

STATE_VERSION = 1
ALL_TOPICS = "all"
MIN_BASELINE_WINDOWS = 3  # fewer windows with data than this: no baseline yet, no alert
MAX_ALERTS_KEPT = 100  # the most recent alerts shown by the status (all go to --alerts)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class MonitorSettings(BaseModel):
    """How windows, baselines and alerts are computed (defaults are the CLI's).

    Example:
        >>> MonitorSettings(window_s=60, baseline_windows=6, min_count=20)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_s: float = Field(default=300.0, gt=0, description="Length of a window in seconds.")
    steps: int = Field(
        default=5, ge=1, le=60, description="Steps a window slides by, per window length."
    )
    baseline_windows: int = Field(
        default=12, ge=1, description="Windows before the current one that form its baseline."
    )
    threshold_std: float = Field(
        default=3.0, gt=0, description="Deviations above the baseline mean that raise an alert."
    )
    min_count: int = Field(
        default=20, ge=1, description="Fewest lines in the current window for an alert."
    )
    cooldown_s: float | None = Field(
        default=None,
        ge=0,
        description="Seconds a topic stays quiet after an alert (default: one window).",
    )

    @model_validator(mode="after")
    def _default_cooldown(self) -> MonitorSettings:
        if self.cooldown_s is None:
            object.__setattr__(self, "cooldown_s", self.window_s)
        return self

    @property
    def step_s(self) -> float:
        return self.window_s / self.steps


@dataclass(frozen=True)
class Observation:
    """One classified line: when (epoch seconds), which topic, and whether it is negative."""

    time: float
    topic: str
    negative: bool


def parse_duration(value: str, option: str) -> float:
    """Seconds from '90', '30s', '5m', '1h', '1d' or '250ms'.

    Raises:
        ConfigError: naming `option` when the value is not a duration.
    """
    match = _DURATION.match(value)
    if match is None:
        raise ConfigError(
            f"{value!r} is not a duration",
            where=option,
            fix="Write a number with an optional unit: 90, 30s, 5m, 1h or 1d",
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_time(value: Any) -> float:
    """Epoch seconds from a number (epoch seconds) or an ISO-8601 string; naive times are UTC.

    Raises:
        ValueError: for anything else (the caller counts the line as malformed).
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"time {value!r} is not finite")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"time {value!r} is neither ISO-8601 nor epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    raise ValueError(f"time must be a number or an ISO-8601 string, got {type(value).__name__}")


def iso(seconds: float) -> str:
    """An epoch time as ISO-8601 UTC (what alerts and the status report)."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class WindowMonitor:
    """Step counts per topic, the sliding window over them, baselines and alerts.

    Learned state (counts, newest step, last alert per topic, recent alerts) round-trips
    through `state_dict` / `load_state_dict`, so a restarted monitor continues exactly.

    Args:
        settings: window, baseline and alert settings.
    """

    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.counts_: dict[str, dict[int, list[int]]] = {}  # topic -> step -> [total, negative]
        self.head_: int | None = None  # the newest step seen (the clock of the stream)
        self.last_alert_: dict[str, float] = {}  # topic -> event time of its last alert
        self.raised_: set[str] = set()  # topics alerted and not yet back under the threshold
        self.alerts_: list[dict[str, Any]] = []
        self.late_ = 0  # lines older than everything kept (dropped)

    # --- feeding -------------------------------------------------------------------------

    def add(self, observation: Observation) -> list[dict[str, Any]]:
        """Count one line under its topic and under "all"; return the alerts it raises.

        A window is judged when it is complete: the first line of a later step closes the
        current step, and the windows ending with it are checked (at most `steps` lines of
        delay, and far fewer chances of a false alarm than judging every line).
        """
        step = math.floor(observation.time / self.settings.step_s)
        if self.head_ is not None and step <= self.head_ - self._kept_steps():
            self.late_ += 1
            return []
        alerts = []
        if self.head_ is None or step > self.head_:
            if self.head_ is not None:
                alerts = [a for t in sorted(self.counts_) if (a := self._check(t, self.head_))]
            self.head_ = step
            self._prune()
        topics = {ALL_TOPICS, observation.topic}
        for topic in topics:
            cell = self.counts_.setdefault(topic, {}).setdefault(step, [0, 0])
            cell[0] += 1
            cell[1] += int(observation.negative)
        return alerts

    def _kept_steps(self) -> int:
        return self.settings.steps * (self.settings.baseline_windows + 1)

    def _prune(self) -> None:
        assert self.head_ is not None
        oldest = self.head_ - self._kept_steps() + 1
        for steps in self.counts_.values():
            for step in [s for s in steps if s < oldest]:
                del steps[step]

    # --- windows and alerts --------------------------------------------------------------

    def window(self, topic: str, end_step: int) -> tuple[int, int]:
        """(lines, negative lines) of `topic` in the window ending with step `end_step`."""
        steps = self.counts_.get(topic, {})
        total = negative = 0
        for step in range(end_step - self.settings.steps + 1, end_step + 1):
            cell = steps.get(step)
            if cell is not None:
                total += cell[0]
                negative += cell[1]
        return total, negative

    def baseline(self, topic: str, end_step: int) -> list[float]:
        """Negative shares of the windows before the one ending with `end_step` (those with
        any lines), most recent first."""
        shares = []
        for back in range(1, self.settings.baseline_windows + 1):
            total, negative = self.window(topic, end_step - back * self.settings.steps)
            if total:
                shares.append(negative / total)
        return shares

    def _check(self, topic: str, end_step: int) -> dict[str, Any] | None:
        """The alert for the window of `topic` ending with step `end_step`, if one is due."""
        settings = self.settings
        now = (end_step + 1) * settings.step_s
        total, negative = self.window(topic, end_step)
        shares = self.baseline(topic, end_step)
        needed = min(MIN_BASELINE_WINDOWS, settings.baseline_windows)
        if total < settings.min_count or len(shares) < needed:
            return None
        share = negative / total
        mean = sum(shares) / len(shares)
        std = _spread(shares, mean, total, share)
        limit = mean + settings.threshold_std * std
        if share <= mean + std:  # back to normal: the next burst may alert again
            self.raised_.discard(topic)
        if share <= limit:
            return None
        last = self.last_alert_.get(topic)
        cooling = last is not None and now - last < float(settings.cooldown_s or 0.0)
        if topic in self.raised_ or cooling:
            return None
        self.raised_.add(topic)
        self.last_alert_[topic] = now
        end = now
        alert = {
            "time": iso(now),
            "topic": topic,
            "negative_share": round(share, 4),
            "baseline_mean": round(mean, 4),
            "baseline_std": round(std, 4),
            "threshold": round(limit, 4),
            "z": round((share - mean) / std, 2),
            "count": total,
            "negative": negative,
            "window_start": iso(end - settings.window_s),
            "window_end": iso(end),
        }
        self.alerts_ = [*self.alerts_, alert][-MAX_ALERTS_KEPT:]
        return alert

    # --- reporting -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Per topic: the current window, its baseline and the sliding negative share at every
        step kept (the series the dashboard draws); plus the recent alerts."""
        topics: dict[str, Any] = {}
        if self.head_ is not None:
            for topic in sorted(self.counts_):
                topics[topic] = self._topic_snapshot(topic, self.head_)
        return {
            "now": iso((self.head_ + 1) * self.settings.step_s) if self.head_ is not None else None,
            "settings": self.settings.model_dump(),
            "topics": topics,
            "alerts": list(self.alerts_),
            "late": self.late_,
        }

    def _topic_snapshot(self, topic: str, head: int) -> dict[str, Any]:
        total, negative = self.window(topic, head)
        shares = self.baseline(topic, head)
        mean = sum(shares) / len(shares) if shares else None
        series = []
        for end_step in range(head - self._kept_steps() + self.settings.steps, head + 1):
            count, negatives = self.window(topic, end_step)
            if count:
                series.append(
                    {
                        "t": (end_step + 1) * self.settings.step_s,
                        "share": round(negatives / count, 4),
                        "count": count,
                    }
                )
        return {
            "window": {
                "count": total,
                "negative": negative,
                "share": round(negative / total, 4) if total else None,
            },
            "baseline": {
                "windows": len(shares),
                "mean": round(mean, 4) if mean is not None else None,
                "std": round(_spread(shares, mean, total), 4) if mean is not None else None,
            },
            "series": series,
        }

    # --- checkpointing -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything learned from the stream, as JSON-ready data."""
        return {
            "version": STATE_VERSION,
            "settings": self.settings.model_dump(),
            "head": self.head_,
            "counts": {
                t: {str(s): c for s, c in steps.items()} for t, steps in self.counts_.items()
            },
            "last_alert": dict(self.last_alert_),
            "raised": sorted(self.raised_),
            "alerts": list(self.alerts_),
            "late": self.late_,
        }

    def load_state_dict(self, state: dict[str, Any]) -> WindowMonitor:
        """Restore `state_dict()`; counts are re-bucketed when the window settings changed.

        Raises:
            ValueError: when the state is not one this version wrote.
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state version {state.get('version')!r}, expected {STATE_VERSION}")
        saved = MonitorSettings(**state["settings"])
        self.last_alert_ = {str(k): float(v) for k, v in state["last_alert"].items()}
        self.raised_ = {str(topic) for topic in state["raised"]}
        self.alerts_ = list(state["alerts"])[-MAX_ALERTS_KEPT:]
        self.late_ = int(state["late"])
        self.counts_, self.head_ = {}, None
        rescale = saved.step_s / self.settings.step_s
        for topic, steps in state["counts"].items():
            for step, (total, negative) in sorted(steps.items(), key=lambda kv: int(kv[0])):
                new = math.floor(int(step) * rescale)
                cell = self.counts_.setdefault(topic, {}).setdefault(new, [0, 0])
                cell[0] += int(total)
                cell[1] += int(negative)
        if state["head"] is not None:
            self.head_ = math.floor(int(state["head"]) * rescale)
            self._prune()
        return self


def _spread(shares: list[float], mean: float | None, count: int, share: float = 0.0) -> float:
    """The deviation an alert is measured in: how the baseline windows' shares vary, combined
    with the sampling error of the current window's share (`share` of `count` lines).

    As in a two-proportion test, the sampling error is taken at the window's own share when it
    is above the baseline: counts of rare events are skewed, and a few windows of baseline
    under-state the spread by chance. It also keeps a flat baseline (deviation 0) from turning
    one extra negative line into an alert.
    """
    if mean is None:
        return 0.0
    variance = sum((s - mean) ** 2 for s in shares) / max(len(shares) - 1, 1)
    rate = min(max(mean, share, 0.02), 0.98)
    noise = rate * (1 - rate) / max(count, 1)
    return math.sqrt(variance + noise)
