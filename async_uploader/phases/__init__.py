"""The phases of a run, each a module: connect (the health race, failover, key, types, album),
precheck (hashing and the bulk upload check), upload (the bounded pool of uploads, one result per
file), album (the batched link). ``run.sync`` calls them in order. None of them imports the transport: they get values and
the project's own exceptions from ``immich``.
"""

from __future__ import annotations

import errno
import time


def ms_since(start: float) -> str:
    return f"{(time.monotonic() - start) * 1000:.0f} ms"


def names(rels: list[str], most: int = 5) -> str:
    """A few names for a log line; many identical files share one asset."""
    shown = ", ".join(rels[:most])
    return shown + (f" and {len(rels) - most} more" if len(rels) > most else "")


def unreadable(exc: OSError) -> str:
    """Why a file could not be read, for its result."""
    if exc.errno == errno.ELOOP:
        return "it became a symlink since the scan; not followed (see --follow-symlinks)"
    return f"cannot read: {exc.strerror or exc}"
