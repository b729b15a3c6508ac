"""The C allocator's settings for a run (glibc only): how many heaps its threads share.

glibc gives each thread that allocates its own heap (an arena; up to eight per processor), and
memory freed in one arena serves only that arena. A backfill hashes, reads and checkpoints in a
pool of worker threads, so over a long run each of them grows an arena of its own with free holes
in it: measured on a 30,000-file backfill (2 kB files, benchmarks B6), about 9 MB in seven thread
arenas, peak RSS 53 MB where 100 files peak at 41 MB. With the threads sharing two arenas the same
run peaks at 49 MB, at no measurable cost in speed (benchmarks/RESULTS.md, issue 13).

This is the process's allocator, so only the command line sets it (``cli.main``), once, before
any thread starts; the library never does. Knows nothing of the rest of the package.
"""

from __future__ import annotations

import os
import sys

__all__ = ["share_arenas"]

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2  # the main thread's arena and one more, which the worker threads share


def share_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas at ``arenas``; False (and nothing changed) on any other C library, or
    where the call is refused, or where the user set the cap (``MALLOC_ARENA_MAX``, or
    ``GLIBC_TUNABLES`` with ``glibc.malloc.arena_max``): theirs stands. Arenas already made
    stay, so call it before starting threads."""
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("MALLOC_ARENA_MAX") or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False  # musl and others: their malloc has no arenas to cap
        import ctypes  # here, not at the top: 1-3 ms that status and the test server never need

        mallopt = ctypes.CDLL(None).mallopt
    except (ValueError, OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
