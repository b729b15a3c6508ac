"""One run at a time per history: a lock file beside it, held by the operating system."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import HistoryError, LockHeld
from .private import private

if sys.platform == "win32":  # pragma: no cover - no Windows machine runs the tests
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class RunLock:
    """One run at a time per history: an flock on ``<history>.lock``, held for a ``with`` block.

    The system drops the lock when its process dies, so a lock left by a dead run is simply taken.
    Taken in one place, the CLI (``cli.one_run_at_a_time``), around everything a command reads
    and writes; ``check`` only looks (``holder``).
    """

    def __init__(self, history_path: Path) -> None:
        self.path = lock_path(history_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise HistoryError(f"cannot write the history in {folder}: it is a file, not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            private(fd)
        except OSError as exc:
            raise HistoryError(
                f"cannot write the history in {folder} (lock file {self.path.name}): {exc.strerror}"
            ) from None
        if not _try_lock(fd):
            message = _held(fd, self.path)
            os.close(fd)
            raise LockHeld(message) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {int(time.time())}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def holder(history_path: Path) -> str | None:
        """What another run holding the lock now means (LockHeld's message), or None when none
        does: for ``check``, which only looks. Creates and writes nothing."""
        path = lock_path(history_path)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None  # no lock file, or one we may not open: no run of ours holds it
        try:
            if _try_lock(fd):
                _unlock(fd)
                return None
            return _held(fd, path)
        finally:
            os.close(fd)


def lock_path(history_path: Path) -> Path:
    return history_path.with_name(history_path.name + ".lock")


def _held(fd: int, path: Path) -> str:
    """The message for a lock another run holds; the pid it wrote there, when it did."""
    words = os.read(fd, 64).decode(errors="replace").split()
    holder = f" (pid {words[0]})" if words else ""
    return f"another async-uploader run is active on this history{holder}; lock file {path}"
