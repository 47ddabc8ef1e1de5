"""Hot-swap: versions v1/, v2/, ... with a `current` pointer; no request fails while the
server switches, and a broken package is refused while the old one keeps serving."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Server, copy_package, serve

from trainforge.serving.loader import resolve, version_id

WATCH = 0.2  # seconds between checks of `current`


@pytest.fixture(scope="module")
def versions(iris_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 and v2 (copies of one package: the folder name is the version), current -> v1."""
    root = tmp_path_factory.mktemp("versions") / "model"
    root.mkdir()
    for name in ("v1", "v2"):
        copy_package(iris_package, root / name)
    broken = copy_package(iris_package, root / "v3-broken")
    (broken / "model.safetensors").write_bytes(b"not weights")
    damaged = copy_package(iris_package, root / "v4-damaged")
    (damaged / "trainforge.json").write_text("{", encoding="utf-8")
    point(root, "v1")
    return root


@pytest.fixture(scope="module")
def server(versions: Path) -> Iterator[Server]:
    yield from serve(versions, "--watch-interval", str(WATCH))


def point(root: Path, version: str) -> None:
    """Switch `current` atomically, as a deployment script would (new symlink, rename)."""
    tmp = root / ".current.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(version)
    os.replace(tmp, root / "current")


def served_version(server: Server) -> str:
    version: str = httpx.get(f"{server.url}/v1/ready").json()["model_version"]
    return version


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Load:
    """Threads sending single-row predictions until stopped; records every outcome."""

    def __init__(self, server: Server, row: dict[str, float], threads: int = 4) -> None:
        self.server, self.row = server, row
        self.statuses: Counter[int | str] = Counter()
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def count(self) -> int:
        """Requests answered so far."""
        with self._lock:
            return sum(self.statuses.values())

    def _send(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/v1/predict", json={"inputs": [self.row]})
                    status: int | str = response.status_code
                    version = response.json().get("model_version") if status == 200 else None
                except httpx.HTTPError as exc:
                    status, version = type(exc).__name__, None
                with self._lock:
                    self.statuses[status] += 1
                    if version:
                        self.versions[version] += 1


def test_resolve_follows_a_symlink_or_a_text_pointer(versions: Path, tmp_path: Path) -> None:
    assert resolve(versions) == versions / "v1"
    assert version_id(versions / "v1", versions, versions) == "v1"
    text_pointer = tmp_path / "model"
    text_pointer.mkdir()
    copy_package(versions / "v2", text_pointer / "v2")
    (text_pointer / "current").write_text("v2\n")
    assert resolve(text_pointer) == text_pointer / "v2"
    package = versions / "v1"
    assert len(version_id(package, package, versions.parent)) == 12  # served directly: a hash


def test_switching_under_load_fails_no_request(
    server: Server, versions: Path, iris_rows: list[dict[str, float]]
) -> None:
    assert served_version(server) == "v1"
    with Load(server, iris_rows[0]) as load:
        time.sleep(0.3)
        point(versions, "v2")  # the watcher picks it up
        wait_for(lambda: served_version(server) == "v2")
        time.sleep(0.3)
        reload = httpx.post(f"{server.url}/v1/admin/reload", json={"path": "v1"}, timeout=30)
        assert reload.status_code == 200, reload.text
        assert reload.json() == {
            "model_version": "v1",
            "previous_version": "v2",
            "path": str(versions / "v1"),
            "changed": True,
        }
        time.sleep(0.3)
        back = httpx.post(f"{server.url}/v1/admin/reload", timeout=30)  # follows current again
        assert back.status_code == 200 and back.json()["model_version"] == "v2"
        time.sleep(0.3)
    assert set(load.statuses) == {200}, load.statuses
    assert set(load.versions) == {"v1", "v2"}, load.versions
    assert sum(load.statuses.values()) > 20


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("v3-broken", "v3-broken: cannot load the package (SafetensorError"),
        ("v4-damaged", "damaged manifest"),
        ("v9", "not found"),
    ],
)
def test_a_broken_package_is_refused_and_the_old_one_keeps_serving(
    server: Server, versions: Path, iris_rows: list[dict[str, float]], version: str, reason: str
) -> None:
    before = served_version(server)
    with Load(server, iris_rows[1], threads=2) as load:
        wait_for(lambda: load.count() >= 3)  # requests in flight before, during and after
        response = httpx.post(f"{server.url}/v1/admin/reload", json={"path": version}, timeout=30)
        answered = load.count()
        wait_for(lambda: load.count() >= answered + 3)
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert detail.startswith("reload refused: ") and reason in detail, detail
    assert detail.endswith(f". Still serving version {before}.")
    assert served_version(server) == before
    assert set(load.statuses) == {200} and set(load.versions) == {before}


def test_a_pointer_to_a_broken_package_is_refused_by_the_watcher(
    server: Server, versions: Path, iris_rows: list[dict[str, float]]
) -> None:
    before = served_version(server)
    refused = _refusals(server)
    point(versions, "v3-broken")
    try:
        wait_for(lambda: _refusals(server) > refused)
        time.sleep(3 * WATCH)
        assert _refusals(server) == refused + 1  # not retried on every poll
        response = httpx.post(f"{server.url}/v1/predict", json={"inputs": iris_rows[:1]})
        assert response.status_code == 200
        assert response.json()["model_version"] == before
    finally:
        point(versions, before)


def _refusals(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('trainforge_model_reloads_total{result="refused"}'):
            return float(line.split()[-1])
    return 0.0
