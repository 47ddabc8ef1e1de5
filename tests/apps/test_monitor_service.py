"""The opinion monitor as users run it: `trainforge monitor` reading files and stdin, and the
service (`--serve`) started for real, called over HTTP, restarted, and its dashboard opened in
headless Chromium.

The sentiment package is a frozen MiniLM with a linear head trained on the shipped reviews
(seconds); streams are built from the shipped reviews the model was not trained on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from cli_support import check_user_error, run_cli

import trainforge
from trainforge.apps.monitor.core import parse_time

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*module\\(s\\) in eval mode.*"),
]

REPO = Path(__file__).resolve().parents[2]
REVIEWS = REPO / "examples" / "data" / "reviews"
START = 1_714_550_400  # 2024-05-01T08:00:00Z
# Small windows so a few hundred lines make a baseline: 60 s windows sliding by 10 s, a
# baseline of 3 windows, alerts from 10 lines.
WINDOWS = ["--window", "60s", "--steps", "6", "--baseline-windows", "3", "--min-count", "10"]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = {
        "task": "text_classification",
        "data": {
            "train": str(REVIEWS / "train.csv"),
            "validation": str(REVIEWS / "validation.csv"),
        },
        "model": {"backbone": "minilm", "finetune": "frozen"},
        "train": {"epochs": 10, "batch_size": 16, "lr": 1e-2, "max_length": 32, "seed": 1},
    }
    folder = tmp_path_factory.mktemp("monitor")
    return Path(trainforge.train(config, output=folder / "run", progress=False).model_dir)


@pytest.fixture(scope="module")
def reviews() -> dict[str, list[str]]:
    """Held-out reviews (the test file) by label."""
    frame = pd.read_csv(REVIEWS / "test.csv")
    return {label: list(group["text"]) for label, group in frame.groupby("label")}


def stream(
    reviews: dict[str, list[str]], seconds: int, burst_from: int | None = None, start: int = 0
) -> list[dict[str, Any]]:
    """One review a second from `start`: one in ten negative, all negative from `burst_from`."""
    lines = []
    for i in range(start, start + seconds):
        negative = i % 10 == 3 or (burst_from is not None and i >= burst_from)
        texts = reviews["negative" if negative else "positive"]
        lines.append({"time": START + i, "text": texts[i % len(texts)], "source": "app-store"})
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_lines(path: Path, items: list[Any], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as out:
        out.writelines(json.dumps(item) + "\n" for item in items)


# --- the command on files and stdin ---------------------------------------------------------


def test_the_command_reads_a_file_and_writes_alerts(
    package: Path, reviews: dict[str, list[str]], tmp_path: Path
) -> None:
    write_lines(tmp_path / "stream.jsonl", stream(reviews, 300, burst_from=240))
    # A webhook nobody listens on: logged, never fatal.
    args = ["monitor", str(package), "--input", "stream.jsonl", "--no-follow", *WINDOWS]
    result = run_cli(tmp_path, [*args, "--webhook", "http://127.0.0.1:9/alerts"])

    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(alerts) == 1
    assert alerts[0]["topic"] == "all" and alerts[0]["negative_share"] > 0.3
    assert "webhook http://127.0.0.1:9/alerts failed" in result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary == {"lines": 300, "valid": 300, "malformed": 0, "alerts": 1}


def test_the_command_reads_stdin(package: Path, reviews: dict[str, list[str]]) -> None:
    lines = [json.dumps(item) for item in stream(reviews, 30)] + ["not json"]
    command = [sys.executable, "-m", "trainforge.cli", "monitor", str(package), "--input", "-"]
    result = subprocess.run(
        command, input="\n".join(lines), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "malformed stdin line 31: not JSON" in result.stderr
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary == {"lines": 31, "valid": 30, "malformed": 1, "alerts": 0}


def test_bad_options_are_refused_with_the_place_and_the_fix(package: Path, tmp_path: Path) -> None:
    write_lines(tmp_path / "s.jsonl", [{"text": "fine"}])
    model = str(package)
    cases = [
        (["--input", "s.jsonl", "--negative-label", "awful"], ["--negative-label", "'negative'"]),
        (["--input", "s.jsonl", "--window", "soon"], ["--window: 'soon' is not a duration"]),
        (["--input", "missing.jsonl", "--no-follow"], ["missing.jsonl: no such file"]),
        ([], ["--input: no input", "--serve"]),
        (["--input", "s.jsonl", "--webhook", "example.org"], ["--webhook", "http(s) URL"]),
        (["--input", "s.jsonl", "--threshold-std", "0"], ["--threshold-std", "greater than 0"]),
        (["--input", "s.jsonl", "--api-key-env", "NO_SUCH_VARIABLE_SET"], ["NO_SUCH_VARIABLE"]),
    ]
    for options, fragments in cases:
        check_user_error(run_cli(tmp_path, ["monitor", model, *options]), *fragments)
    labels = check_user_error(
        run_cli(tmp_path, ["monitor", model, "--input", "s.jsonl", "--negative-label", "bad"])
    )
    assert "'negative', 'positive'" in labels


# --- the service ----------------------------------------------------------------------------


class Monitor:
    """A running `trainforge monitor ... --serve` process on a free loopback port."""

    def __init__(
        self, package: Path, folder: Path, *options: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"monitor-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "trainforge.cli",
            "monitor",
            str(package),
            "--serve",
            "--port",
            str(self.port),
            *WINDOWS,
            *options,
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env={**os.environ, **(env or {})},
            )
        self._wait()

    def _wait(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"monitor exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"monitor not up within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/status", timeout=10).json()

    def ingest(self, body: Any, key: str | None = None) -> httpx.Response:
        headers = {"X-API-Key": key} if key else {}
        return httpx.post(f"{self.url}/v1/ingest", json=body, headers=headers, timeout=60)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: the state is saved on the way out."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A tiny HTTP server recording the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def test_the_service_ingests_reports_and_refuses_bad_requests(
    package: Path, reviews: dict[str, list[str]], tmp_path: Path
) -> None:
    monitor = Monitor(package, tmp_path)
    try:
        one = monitor.ingest({"time": "2024-05-01T08:00:00Z", "text": "Terrible, it broke."})
        assert one.status_code == 200, one.text
        assert one.json() == {"accepted": 1, "malformed": 0, "errors": [], "alerts": []}

        mixed = monitor.ingest([*stream(reviews, 5, start=1), {"text": ""}, "text", {"x": 1}])
        assert mixed.status_code == 200
        assert (mixed.json()["accepted"], mixed.json()["malformed"]) == (5, 3)
        assert mixed.json()["errors"][1] == {
            "index": 6,
            "error": "expected a JSON object, got a string",
        }

        for bad in ([{"text": "x", "time": "never"}], [], 42):
            assert monitor.ingest(bad).status_code == 422, bad
        not_json = httpx.post(f"{monitor.url}/v1/ingest", content=b"{oops", timeout=10)
        assert not_json.status_code == 422
        huge = httpx.post(
            f"{monitor.url}/v1/ingest",
            content=b"[" + b'{"text": "x"},' * 700_000 + b"{}]",
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert huge.status_code == 413

        status = monitor.status()
        # Refused bodies (no valid item, not JSON, too large) count only their items.
        assert status["counters"] == {"lines": 10, "valid": 6, "malformed": 4, "alerts": 0}
        assert status["topics"]["all"]["window"]["count"] == 6
        assert status["negative_label"] == "negative"

        page = httpx.get(monitor.url + "/", timeout=10)
        assert page.status_code == 200 and "<canvas" in page.text
        assert "v1/status" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing external
        assert httpx.get(monitor.url + "/dashboard", timeout=10).text == page.text
        metrics = httpx.get(monitor.url + "/metrics", timeout=10).text
        assert 'path="/v1/ingest"' in metrics
    finally:
        monitor.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM (so the exit status says why).
    assert monitor.process.returncode in (0, -signal.SIGTERM), monitor.output()
    assert "Application shutdown complete" in monitor.output()
    assert "Traceback" not in monitor.output()


def test_a_burst_over_http_alerts_to_the_file_and_the_webhook(
    package: Path,
    reviews: dict[str, list[str]],
    tmp_path: Path,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    options = ["--alerts", "alerts.jsonl", "--webhook", url, "--api-key-env", "MONITOR_KEY"]
    monitor = Monitor(package, tmp_path, *options, env={"MONITOR_KEY": "s3cret"})
    try:
        lines = stream(reviews, 300, burst_from=240)
        assert monitor.ingest(lines[:1]).status_code == 401
        assert monitor.ingest(lines[:1], key="wrong").status_code == 401
        alerts = []
        for i in range(0, 300, 50):
            alerts += monitor.ingest(lines[i : i + 50], key="s3cret").json()["alerts"]
        assert len(alerts) == 1
        assert START + 240 < parse_time(alerts[0]["time"]) <= START + 300
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        assert received == alerts
        written = (tmp_path / "alerts.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in written] == alerts
        assert monitor.status()["webhook"] == {"sent": 1, "failed": 0}
    finally:
        monitor.stop()


def test_a_restarted_service_keeps_its_windows_and_its_place_in_the_file(
    package: Path, reviews: dict[str, list[str]], tmp_path: Path
) -> None:
    source = tmp_path / "stream.jsonl"
    write_lines(source, stream(reviews, 120))
    options = ["--input", "stream.jsonl", "--state", "state.json"]
    monitor = Monitor(package, tmp_path, *options)
    try:
        before = wait_for_lines(monitor, 120)
    finally:
        monitor.stop()
    assert (tmp_path / "state.json").is_file()

    write_lines(source, stream(reviews, 60, start=120), mode="a")
    monitor = Monitor(package, tmp_path, *options)
    try:
        after = wait_for_lines(monitor, 180)
    finally:
        monitor.stop()
    assert before["topics"]["all"]["series"][:3] == after["topics"]["all"]["series"][:3]
    assert after["counters"]["valid"] == 180  # the first 120 were not counted again
    assert after["input"]["offset"] == source.stat().st_size


def wait_for_lines(monitor: Monitor, lines: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = monitor.status()
        if status["counters"]["lines"] >= lines:
            time.sleep(0.5)  # nothing more may come
            status = monitor.status()
            assert status["counters"]["lines"] == lines
            return status
        time.sleep(0.2)
    raise AssertionError(f"{lines} lines not read in {timeout} s:\n{monitor.output()}")


# --- the dashboard in a real browser --------------------------------------------------------


def browser() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver, installed with apt-get when missing and
    possible; the test is skipped with the reason otherwise."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if None in found and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
            capture_output=True,
            timeout=900,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("chromium"), shutil.which("chromedriver")
    if None in found:
        pytest.skip(
            "no headless browser: Debian's chromium and chromium-driver are not installed and "
            "cannot be (apt-get install -y chromium chromium-driver needs root and apt-get)"
        )
    pytest.importorskip("selenium", reason="selenium is in the dev extra: pip install -e .[dev]")
    return found  # type: ignore[return-value]


def test_the_dashboard_draws_the_chart_and_shows_the_alert_in_chromium(
    package: Path, reviews: dict[str, list[str]], tmp_path: Path
) -> None:
    chromium, chromedriver = browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    monitor = Monitor(package, tmp_path)
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        driver.get(monitor.url + "/")
        wait = WebDriverWait(driver, 30)
        wait.until(lambda d: "lines" in d.find_element(By.ID, "counters").text)
        lines = stream(reviews, 300, burst_from=240)
        for i in range(0, 240, 60):
            monitor.ingest(lines[i : i + 60])
        points = lambda d: int(d.find_element(By.ID, "chart").get_attribute("data-points"))  # noqa: E731
        wait.until(lambda d: points(d) > 10)
        assert driver.find_elements(By.CSS_SELECTOR, "#alerts li.alert") == []

        monitor.ingest(lines[240:])
        alert = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#alerts li.alert"))
        assert "topic all" in alert[0].text and "negative share" in alert[0].text
        assert "1 alerts" in driver.find_element(By.ID, "counters").text
        assert driver.find_element(By.ID, "error").text == ""
        # The chart really drew: the canvas holds coloured pixels, not just the grid.
        coloured = driver.execute_script(
            "const c = document.getElementById('chart');"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 0; i < d.length; i += 4)"
            "  if (d[i + 3] > 0 && Math.abs(d[i] - d[i + 2]) > 60) n++;"
            "return n;"
        )
        assert coloured > 100
    finally:
        driver.quit()
        monitor.stop()
