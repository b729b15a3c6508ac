"""Upload bodies: the multipart form we write ourselves, the file's bytes (read whole when small,
else streamed from the open handle), the stall deadline that moves with every byte, and the cap
on the upload bytes of every stream together (``--max-rate``).
"""

from __future__ import annotations

import os
import random
from typing import Any

import anyio

from ..files import opener
from .models import FileChanged

CHUNK = 256 * 1024
SMALL_FILE = 1024 * 1024  # read whole in one go: concurrency x this at most in memory
_BOUNDARY_BITS = random.Random(os.urandom(32))  # seeded once from the kernel


def _quote_header_value(name: str) -> str:
    # Raw UTF-8 in filename="..." is what the server decodes right (REAL-SERVER-NOTES.md);
    # only the characters that would break the header are escaped, as browsers do.
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def build_multipart(
    fields: list[tuple[str, str]],
    file_field: str,
    filename: str,
    content_type: str,
    sidecar: tuple[str, bytes] | None = None,
) -> tuple[str, bytes, bytes]:
    """(boundary, everything before the file bytes, everything after them).

    The order is Immich's: the server type-checks each file part against the ``filename`` field if
    that came before it, so the sidecar goes after the other text fields but before ``filename``,
    and the asset last (shared/immich/REAL-SERVER-NOTES.md, "Sidecars and the filename field").
    """
    # 128 random bits from a generator seeded once (uuid4 asks the kernel each time: a system call
    # per upload); a boundary only has to be absent from the parts it separates.
    boundary = f"----async-uploader-{_BOUNDARY_BITS.getrandbits(128):032x}"

    def text(name: str, value: str) -> bytes:
        disposition = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        return disposition.encode() + value.encode() + b"\r\n"

    def file_header(name: str, fname: str, ctype: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{_quote_header_value(fname)}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()

    head = bytearray()
    for name, value in fields:
        if name != "filename":
            head += text(name, value)
    if sidecar is not None:
        head += file_header("sidecarData", sidecar[0], "application/rdf+xml") + sidecar[1] + b"\r\n"
    for name, value in fields:
        if name == "filename":
            head += text(name, value)
    head += file_header(file_field, filename, content_type)
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, bytes(head), tail


class Progress:
    """Bytes sent so far, and the stall deadline: each byte that moves pushes the cancel scope's
    deadline stall_timeout further on, so an upload that stops moving is cancelled by its own
    scope (no watchdog task per upload)."""

    def __init__(self, scope: anyio.CancelScope, stall_timeout: float) -> None:
        self.scope = scope
        self.stall_timeout = stall_timeout
        self.sent = 0
        self.touch()

    def touch(self, nbytes: int = 0) -> None:
        self.sent += nbytes
        self.scope.deadline = anyio.current_time() + self.stall_timeout


class RateCap:
    """One cap on the upload bytes of every stream together (``--max-rate``). Each piece
    reserves its slot on one timeline and is sent at the end of it, so the bytes sent by any
    moment never exceed rate x time, however many streams share it. Pieces are a twentieth of a
    second of the rate: the streams take turns smoothly, and a wait is short. Waiting is not a
    stall: the upload's stall deadline moves on while it waits."""

    def __init__(self, bytes_per_second: float) -> None:
        self.rate = bytes_per_second
        self.piece = max(4096, min(CHUNK, int(bytes_per_second / 20)))
        self._next_free = 0.0

    async def take(self, nbytes: int, progress: Progress) -> None:
        now = anyio.current_time()
        end = self._next_free = max(self._next_free, now) + nbytes / self.rate
        while (left := end - anyio.current_time()) > 0:
            await anyio.sleep(min(left, 0.25))
            progress.touch()


def read_whole(path: str, size: int, follow_symlinks: bool = False) -> bytes:
    """The file's bytes (for a small file), in one worker-thread call; FileChanged if its size is
    no longer the one scanned."""
    with open(path, "rb", opener=opener(follow_symlinks)) as fh:
        data = fh.read(size + 1)
    if len(data) != size:
        raise FileChanged(str(path))
    return data


class InMemory:
    """A small file's bytes, read whole: chunks come from memory, no thread per chunk."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path, self.view, self.pos = path, memoryview(data), 0

    async def read(self, n: int) -> bytes | memoryview:
        chunk = self.view[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def stat(self) -> os.stat_result:
        return os.stat(self.path)  # after sending: a changed size or mtime means it was rewritten


class Streamed:
    """A larger file, read chunk by chunk from the open handle."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    async def read(self, n: int) -> bytes:
        return await self.fh.read(n)  # type: ignore[no-any-return]

    def stat(self) -> os.stat_result:
        return os.fstat(self.fh.fileno())
