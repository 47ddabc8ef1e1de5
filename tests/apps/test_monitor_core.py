"""The opinion monitor's pure parts: windows, baseline, alerts, parsing, tailing, checkpoints.

No model here: observations carry their sentiment already, so each rule is checked on its own.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from trainforge.apps.monitor.checkpoint import Checkpoint
from trainforge.apps.monitor.classify import pick_negative_label
from trainforge.apps.monitor.core import (
    MonitorSettings,
    Observation,
    WindowMonitor,
    parse_duration,
    parse_time,
)
from trainforge.apps.monitor.records import Record, parse_line
from trainforge.apps.monitor.sources import FileTail
from trainforge.errors import ConfigError, DataError

SETTINGS = MonitorSettings(window_s=60, steps=6, baseline_windows=6, min_count=20)
START = 1_700_000_000.0


def stream(
    seconds: int, calm: float = 0.1, burst: tuple[int, int] | None = None, seed: int = 0
) -> list[Observation]:
    """One observation a second; negative with probability `calm`, or 0.8 inside `burst`."""
    rng = random.Random(seed)
    out = []
    for i in range(seconds):
        inside = burst is not None and burst[0] <= i < burst[1]
        out.append(Observation(START + i, "all", rng.random() < (0.8 if inside else calm)))
    return out


def run(monitor: WindowMonitor, observations: list[Observation]) -> list[dict]:
    return [alert for o in observations for alert in monitor.add(o)]


# --- alerts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_a_burst_raises_an_alert_inside_its_window_and_a_calm_stream_none(seed: int) -> None:
    calm = run(WindowMonitor(SETTINGS), stream(900, seed=seed))
    burst = run(WindowMonitor(SETTINGS), stream(900, burst=(600, 660), seed=seed))

    assert calm == []
    assert len(burst) == 1
    alert_time = parse_time(burst[0]["time"])
    assert START + 600 <= alert_time < START + 660
    assert burst[0]["negative_share"] > burst[0]["threshold"] > burst[0]["baseline_mean"]
    assert burst[0]["count"] >= SETTINGS.min_count


def test_a_long_burst_raises_one_alert_not_a_storm() -> None:
    # Every line of it is over the threshold; the topic re-arms only once back under it.
    assert len(run(WindowMonitor(SETTINGS), stream(1500, burst=(600, 900)))) == 1


def test_cooldown_keeps_a_second_burst_soon_after_quiet() -> None:
    observations = stream(1500, burst=(600, 640), seed=1)
    second = [
        Observation(o.time, o.topic, True) if 760 <= o.time - START < 800 else o
        for o in observations
    ]
    short = SETTINGS.model_copy(update={"cooldown_s": 30.0})
    long = SETTINGS.model_copy(update={"cooldown_s": 600.0})

    assert len(run(WindowMonitor(short), second)) == 2
    assert len(run(WindowMonitor(long), second)) == 1


def test_the_default_cooldown_is_one_window() -> None:
    assert MonitorSettings(window_s=90).cooldown_s == 90


def test_no_alert_below_the_minimum_count() -> None:
    # One line every 5 s: a window holds 12 lines, fewer than min_count 20, all negative.
    sparse = [o for o in stream(900, 0.05, (600, 700)) if int(o.time) % 5 == 0]
    assert run(WindowMonitor(SETTINGS), sparse) == []
    relaxed = SETTINGS.model_copy(update={"min_count": 10})
    assert len(run(WindowMonitor(relaxed), sparse)) == 1


def test_no_alert_before_there_is_a_baseline() -> None:
    # All negative from the first line: nothing to compare with, so no alert.
    everything_bad = [Observation(START + i, "all", True) for i in range(300)]
    assert run(WindowMonitor(SETTINGS), everything_bad) == []


def test_topics_have_their_own_windows_and_all_sums_them() -> None:
    monitor = WindowMonitor(SETTINGS)
    for i in range(100):
        monitor.add(Observation(START + i, "tech" if i % 2 else "sport", i % 4 == 1))
    topics = monitor.snapshot()["topics"]

    assert set(topics) == {"all", "sport", "tech"}
    assert topics["sport"]["window"]["negative"] == 0
    assert topics["tech"]["window"]["share"] == 0.5
    assert topics["all"]["window"]["count"] == 60  # the last minute, at one line a second
    assert topics["all"]["series"][-1]["count"] == 60


def test_lines_older_than_the_kept_history_are_counted_late() -> None:
    monitor = WindowMonitor(SETTINGS)
    monitor.add(Observation(START + 10_000, "all", False))
    monitor.add(Observation(START, "all", True))
    assert monitor.late_ == 1
    assert monitor.snapshot()["topics"]["all"]["window"]["negative"] == 0


def test_a_restored_monitor_continues_exactly_like_an_uninterrupted_one() -> None:
    observations = stream(1200, burst=(800, 860), seed=3)
    whole = WindowMonitor(SETTINGS)
    expected = run(whole, observations)

    first = WindowMonitor(SETTINGS)
    before = run(first, observations[:830])
    state = json.loads(json.dumps(first.state_dict()))  # through JSON, as on disk
    second = WindowMonitor(SETTINGS).load_state_dict(state)
    after = run(second, observations[830:])

    assert before + after == expected
    assert second.snapshot() == whole.snapshot()


# --- parsing --------------------------------------------------------------------------------


def test_times_are_iso_8601_or_epoch_seconds() -> None:
    assert parse_time(1_700_000_000) == 1_700_000_000.0
    assert parse_time("1700000000.5") == 1_700_000_000.5
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000.0
    assert parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000.0
    assert parse_time("2023-11-14 22:13:20") == 1_700_000_000.0  # naive: UTC
    for bad in ("yesterday", True, [1], float("nan")):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_durations() -> None:
    assert parse_duration("5m", "--window") == 300
    assert parse_duration("90", "--window") == 90
    assert parse_duration("1.5h", "--window") == 5400
    with pytest.raises(ConfigError, match="--window: 'five minutes' is not a duration"):
        parse_duration("five minutes", "--window")


def test_lines_are_records_or_the_reason_they_are_malformed() -> None:
    line = b'{"time": 1700000000, "text": "Profit fell.", "source": "wire"}\n'
    assert parse_line(line) == Record(1_700_000_000.0, "Profit fell.", "wire")
    assert parse_line('{"text": "no time"}', arrival=5.0) == Record(5.0, "no time")
    assert parse_line("   \n") is None
    reasons = {
        b"{not json": "not JSON",
        b'["a list"]': "expected a JSON object, got a list",
        b'{"time": 1}': "'text' is missing",
        b'{"text": "   "}': "'text' is missing, empty",
        b'{"text": 42}': "not a string",
        b'{"text": "x", "time": "soon"}': "neither ISO-8601 nor epoch seconds",
        b'{"text": "x", "source": 3}': "'source' must be a string",
        b'{"text": "\xff"}': "not UTF-8",
    }
    for raw, reason in reasons.items():
        parsed = parse_line(raw)
        assert isinstance(parsed, str) and reason in parsed, (raw, parsed)


def test_the_negative_label_is_found_or_the_labels_are_listed() -> None:
    assert pick_negative_label(["negative", "neutral", "positive"], None, "m") == "negative"
    assert pick_negative_label(["NEG", "POS"], None, "m") == "NEG"
    assert pick_negative_label(["bad", "good"], "bad", "m") == "bad"
    with pytest.raises(ConfigError, match=r"m: no label .* 'negative'.*'bad', 'good'"):
        pick_negative_label(["bad", "good"], None, "m")
    with pytest.raises(ConfigError, match="--negative-label: the model has no label 'awful'"):
        pick_negative_label(["bad", "good"], "awful", "m")


# --- tailing and checkpoints ----------------------------------------------------------------


def test_a_file_tail_returns_whole_lines_and_remembers_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    tail = FileTail(path)
    assert tail.read(10) == []  # not there yet
    path.write_bytes(b"one\ntwo\nthr")
    assert tail.read(10) == [b"one\n", b"two\n"]
    assert tail.read(10) == []  # "thr" waits for its newline
    with path.open("ab") as out:
        out.write(b"ee\nfour\n")
    assert tail.read(1) == [b"three\n"]
    assert tail.offset == len(b"one\ntwo\nthree\n")

    again = FileTail(path, offset=tail.offset)
    assert again.read(10) == [b"four\n"]
    path.write_bytes(b"new\n")  # truncated: read from the start
    assert again.read(10) == [b"new\n"]
    path.write_bytes(b"last line without newline")
    assert FileTail(path).read(10, final=True) == [b"last line without newline"]


def test_checkpoints_are_written_atomically_and_bad_ones_named(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "state.json", every_s=3600, every_lines=100)
    assert checkpoint.load() is None
    assert not checkpoint.due(99)
    assert checkpoint.due(1)
    checkpoint.save({"monitor": {"head": 3}})
    assert checkpoint.load()["monitor"] == {"head": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left

    (tmp_path / "state.json").write_text("{half", encoding="utf-8")
    with pytest.raises(DataError, match=r"state.json: cannot read the monitor state .*--state"):
        checkpoint.load()
    (tmp_path / "state.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(DataError, match="not a monitor state file"):
        checkpoint.load()
