"""Where lines come from: a file being appended to (tailed from a byte offset) or stdin.

Both hand out whole lines in chunks; a partial last line waits for its newline. A file tail
knows its byte offset, which the checkpoint saves, so a restart continues where it stopped.
"""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path
from typing import BinaryIO

from trainforge.errors import DataError

READ_BYTES = 1 << 20  # bytes read at a time


class FileTail:
    """Complete lines appended to a file, from a byte offset on.

    Args:
        path: the file (it may not exist yet when following).
        offset: where to start (a checkpoint's offset); a file now shorter than that was
            truncated or replaced, and is read again from its start.
    """

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self._handle: BinaryIO | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def read(self, max_lines: int, final: bool = False) -> list[bytes]:
        """Up to `max_lines` complete lines from the offset on (empty: nothing new yet).

        Args:
            max_lines: the most lines returned.
            final: also return a last line that has no newline (the file is complete).
        """
        if not self._open():
            return []
        assert self._handle is not None
        size = os.fstat(self._handle.fileno()).st_size
        if size < self.offset:
            self.offset = 0  # truncated or replaced: start over
        self._handle.seek(self.offset)
        lines: list[bytes] = []
        while len(lines) < max_lines:
            line = self._handle.readline(READ_BYTES)
            complete = line.endswith(b"\n") or len(line) == READ_BYTES  # (an overlong line: cut)
            if not line or not (complete or final):
                break  # end of file, or a line still being written
            self.offset += len(line)
            lines.append(line)
        return lines

    def _open(self) -> bool:
        if self._handle is not None:
            # A file replaced under the same name (log rotation): reopen it from the start.
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                return True
            mine = os.fstat(self._handle.fileno())
            if (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
                return True
            self._handle.close()
            self._handle, self.offset = None, 0
        try:
            self._handle = self.path.open("rb")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise DataError(
                f"cannot read the input: {exc.strerror}",
                where=str(self.path),
                fix="Pass a readable file with --input, or '-' for stdin",
            ) from None
        return True

    def exists(self) -> bool:
        return self.path.is_file()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class StdinLines:
    """Complete lines from standard input, read without blocking longer than `wait_s`."""

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream or sys.stdin.buffer
        self.offset = 0  # stdin cannot be re-read: the offset is informative only
        self.ended = False
        self._pending = b""
        self._lines: list[bytes] = []

    @property
    def name(self) -> str:
        return "stdin"

    def read(self, max_lines: int, wait_s: float = 0.5) -> list[bytes]:
        """Up to `max_lines` lines; waits at most `wait_s` for the first bytes."""
        fd = self.stream.fileno()
        while not self.ended and len(self._lines) < max_lines:
            ready, _, _ = select.select([fd], [], [], wait_s if not self._lines else 0)
            if not ready:
                break
            chunk = os.read(fd, READ_BYTES)
            if not chunk:
                self.ended = True
                if self._pending:  # a last line without a newline still counts
                    self._lines.append(self._pending)
                    self._pending = b""
                break
            parts = (self._pending + chunk).split(b"\n")
            self._pending = parts.pop()
            self._lines.extend(part + b"\n" for part in parts)
        lines, self._lines = self._lines[:max_lines], self._lines[max_lines:]
        self.offset += sum(len(line) for line in lines)
        return lines

    def close(self) -> None:
        pass
