"""Reading a request's body as the emulated link carries it: through the shared bandwidth cap,
counted, with the fault the plan drew for it (a reset, a stall) at its point in the body."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from .records import Stats
from .shapes import ConnectionDropped
from .shaping import Fault, Shaping, TokenBucket

READ_CHUNK = 64 * 1024


class Line(Protocol):
    """What a body reader needs of the server (``core.Core`` is one): the link's bucket, its
    counters, its shaping as it is now."""

    bucket: TokenBucket
    shaping: Shaping

    @property
    def stats(self) -> Stats: ...


class BodyReader:
    """Reads a request body through the shared bandwidth cap, counting bytes and injecting faults."""

    def __init__(
        self,
        line: Line,
        request: web.Request,
        fault: Fault = Fault.NONE,
        where: float = 0.5,
        upload: bool = False,
    ) -> None:
        self.line = line
        self.request = request
        self.fault = fault
        self.upload = upload
        length = request.content_length
        # Chunked bodies have no length: act after the first 64 KiB then.
        self.trigger_at = int((length or 2 * READ_CHUNK) * where)
        self.read_bytes = 0

    async def read(self) -> bytes:
        chunk = await self.request.content.read(READ_CHUNK)
        if not chunk:
            return b""
        await self.line.bucket.consume(len(chunk))
        self.read_bytes += len(chunk)
        stats = self.line.stats
        stats.body_bytes += len(chunk)
        if self.upload:
            stats.upload_body_bytes += len(chunk)
        if self.fault is not Fault.NONE and self.read_bytes >= self.trigger_at:
            fault, self.fault = self.fault, Fault.NONE
            stats.faults[fault.value] += 1
            if fault is Fault.RESET:
                transport = self.request.transport
                if transport is not None:
                    transport.abort()
                raise ConnectionDropped()
            if fault is Fault.STALL:
                await asyncio.sleep(self.line.shaping.stall_seconds)
        return chunk

    async def drain(self, idle_timeout: float = 30.0) -> None:
        """Read and discard the rest, as the real server keeps reading after an early answer."""
        try:
            while await asyncio.wait_for(self.read(), idle_timeout):
                pass
        except (TimeoutError, ConnectionError, ConnectionDropped):
            pass
