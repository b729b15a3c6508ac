"""Writing a file of the store so that a crash leaves the old one or the new one, never a torn one,
and so that only its owner can read it (it names every file and what the server said)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import HistoryError


def private(fd: int) -> None:
    """0600, whatever the umask or an older version's file said."""
    if hasattr(os, "fchmod"):  # not on Windows, where the mode means little
        with contextlib.suppress(OSError):  # another user's file: theirs to keep as it is
            os.fchmod(fd, 0o600)


def atomic_write(path: Path, text: str | Iterable[str]) -> None:
    """Temp file in the same folder, fsync, replace, fsync the folder: the old or the new file
    survives a crash, never a torn one."""
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # 0600: the history names every file and what the server said. A name that is not UTF-8
        # is held as lone surrogates; "backslashreplace" writes them as \udcXX, which inside a
        # JSON string is the escape that reads back as the same character: lossless, valid JSON.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        private(fd)  # a temp file left by an older version may have another mode
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                for piece in text:
                    fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise HistoryError(
            f"cannot write history {path}: {exc.strerror or exc} (the previous history is unchanged)"
        ) from None
