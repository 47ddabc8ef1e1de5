"""The live model and its hot-swap: load the new version aside, warm it, then switch.

The switch is one attribute assignment, so every batch sees either the old model or the new one,
never a mix; a batch that started on the old model finishes on it (it holds its own reference).
A package that fails to load or to warm up is refused and the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainforge.errors import TrainforgeError
from trainforge.serving.loader import POINTER, LoadedModel, load_package, resolve, version_id
from trainforge.serving.settings import ServeSettings

# uvicorn configures its own loggers only; this one prints with its messages.
log = logging.getLogger("uvicorn.error")


class ReloadError(Exception):
    """A package was refused; `reason` says why. The previous model keeps serving."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: the version now served, the one before it, and whether it changed."""

    model_version: str
    previous_version: str | None
    path: str
    changed: bool


class ModelHolder:
    """Holds the model being served; loads, swaps and watches for new versions.

    Args:
        settings: the service settings (MODEL_DIR, onnx, watch interval).
        on_swap: called with the new `LoadedModel` after every switch (metrics use it).
        on_refused: called with the reason whenever a package is refused.
    """

    def __init__(
        self,
        settings: ServeSettings,
        on_swap: Callable[[LoadedModel], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.model_dir = settings.model_dir
        self.current: LoadedModel | None = None
        self.error: str | None = None
        self._on_swap = on_swap
        self._on_refused = on_refused
        self._lock = asyncio.Lock()
        # The pointer target that last failed: the watcher retries only once it changes.
        self._refused: Path | None = None

    @property
    def ready(self) -> bool:
        return self.current is not None

    async def reload(self, path: str | None = None) -> ReloadResult:
        """Load `path` (or re-resolve MODEL_DIR) in a worker thread, warm it, switch to it.

        `path` may be a package or a folder of versions; relative paths are taken from
        MODEL_DIR. The package already served (same folder and version) is not loaded again.
        Raises `ReloadError` when the package is refused.
        """
        async with self._lock:
            previous = self.current
            where: Path | str = path or self.model_dir  # for the message, until located
            try:
                package, version = await asyncio.to_thread(self._locate, path)
                where = package
                if previous and (package, version) == (previous.path, previous.version):
                    return ReloadResult(version, version, str(package), changed=False)
                loaded = await asyncio.to_thread(
                    load_package, package, version, onnx=self.settings.onnx
                )
            except Exception as exc:  # a broken package is user input: refuse it, keep serving
                reason = _reason(exc, where)
                if previous is None:
                    self.error = reason
                log.error("model refused: %s", reason)
                if self._on_refused is not None:
                    self._on_refused(reason)
                raise ReloadError(reason) from exc
            self.current = loaded
            self.error = None
            if self._on_swap is not None:
                self._on_swap(loaded)
            log.info("serving model version %s from %s", loaded.version, loaded.path)
            old = previous.version if previous else None
            return ReloadResult(loaded.version, old, str(loaded.path), True)

    async def watch(self) -> None:
        """Poll MODEL_DIR/current and switch to the version it names whenever it changes."""
        interval = self.settings.watch_interval_s
        pointer = self.model_dir / POINTER
        while True:
            await asyncio.sleep(interval)
            if not (pointer.exists() or pointer.is_symlink()):
                continue
            try:
                target = await asyncio.to_thread(resolve, self.model_dir)
            except Exception as exc:  # a half-written pointer: wait for the next poll
                log.debug("pointer not usable yet: %s", exc)
                continue
            current = self.current.path if self.current else None
            if target in (current, self._refused):
                continue
            try:
                await self.reload()
                self._refused = None
            except ReloadError:
                self._refused = target

    def _locate(self, path: str | None) -> tuple[Path, str]:
        """The package folder and its version id for `path` (None: MODEL_DIR)."""
        root = self.model_dir
        if path is not None:
            given = Path(path)
            root = given if given.is_absolute() else self.model_dir / given
        package = resolve(root)
        return package, version_id(package, root, self.model_dir)


def _reason(exc: Exception, package: Path | str) -> str:
    """Why a package was refused, in the project's wording: where, what, how to fix."""
    if isinstance(exc, TrainforgeError):
        return exc.message
    return TrainforgeError(
        f"cannot load the package ({type(exc).__name__}: {exc})",
        where=str(package),
        fix="Check that it was written completely by `trainforge train`, or train it again",
    ).message
