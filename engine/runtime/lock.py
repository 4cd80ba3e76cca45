"""One engine per data directory: an exclusive lock file that names its holder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from engine.errors import ErrorCode, MeshsmithError


class EngineLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> EngineLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise MeshsmithError(
                ErrorCode.STORAGE,
                f"Meshsmith cannot write its lock file in {self.path.parent} "
                f"({exc.strerror or exc}); set MESHSMITH_HOME to a folder you can write to.",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise MeshsmithError(
                ErrorCode.ENGINE_LOCKED,
                f"Another Meshsmith engine (process {holder}) is already using "
                f"{self.path.parent}; close it first or set MESHSMITH_HOME to another folder.",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def in_use(self) -> bool:
        """True while some engine holds this data folder (a reader's question: takes nothing)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False  # no lock file: no engine ever ran here
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the shared lock we may have taken
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
