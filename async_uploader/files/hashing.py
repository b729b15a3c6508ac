"""SHA-1 of a file, read into one buffer no bigger than it needs."""

from __future__ import annotations

import hashlib
import os

from .local import opener


def sha1_file(
    path: str | os.PathLike[str], chunk: int = 1024 * 1024, follow_symlinks: bool = False
) -> str:
    h = hashlib.sha1()
    with open(path, "rb", buffering=0, opener=opener(follow_symlinks)) as fh:
        # One buffer per file, no bigger than the file needs (a 2 kB screenshot had a megabyte
        # allocated for each of its two reads); 64 KiB at least, should the file grow meanwhile.
        size = os.fstat(fh.fileno()).st_size
        view = memoryview(bytearray(min(chunk, max(size + 1, 64 * 1024))))
        while n := fh.readinto(view):
            h.update(view[:n])
    return h.hexdigest()
