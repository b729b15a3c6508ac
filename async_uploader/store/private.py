"""The store's files are their owner's alone: they name every file and what the server said."""

from __future__ import annotations

import contextlib
import os


def private(fd: int) -> None:
    """0600, whatever the umask or an older version's file said."""
    if hasattr(os, "fchmod"):  # not on Windows, where the mode means little
        with contextlib.suppress(OSError):  # another user's file: theirs to keep as it is
            os.fchmod(fd, 0o600)
