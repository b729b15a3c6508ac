"""POST /api/assets: one upload, streamed from disk, and what its answer means.

Text fields first (the server's type check only sees fields that arrived before the file part),
the exact local name in a ``filename`` field, a Content-Length, and SHA-1 computed on the way.
The answer is CREATED, DUPLICATE or REJECTED (a refusal that will not change: a 4xx, with its
kind); what is worth retrying is raised instead, as is a file that changed while it was read.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import aiofiles
import anyio

from ..config import Secret
from ..files import opener
from ..outcomes import Outcome
from . import answers
from .bodies import (
    CHUNK,
    SMALL_FILE,
    InMemory,
    Progress,
    RateCap,
    Streamed,
    build_multipart,
    read_whole,
)
from .errors import ApiError, BadAnswer, Kind, Redirected, TransportError, kind_of_status
from .models import FileChanged, UploadAnswer, UploadRequest
from .transport import Answer, Session, exchange

log = logging.getLogger(__name__)

ENDPOINT = "/api/assets"
MAX_ERROR_BODY = 64 * 1024  # of an error answer, only the message is wanted
# Refusals that are final for this file as it is (not retried): any 4xx but the busy ones.
_FINAL = frozenset({Kind.TOO_LARGE, Kind.NOT_FOUND, Kind.FORBIDDEN, Kind.REJECTED})


class Connection(Protocol):
    """What an upload needs of the client: ``client.ImmichClient`` is one."""

    session: Session
    base_url: str
    major: int | None
    stall_timeout: float
    cap: RateCap | None

    def headers(
        self, extra: dict[str, str] | None = None, key: Secret | None = None
    ) -> dict[str, str]: ...

    def error(
        self,
        method: str,
        endpoint: str,
        status: int,
        body: bytes,
        reason: str,
        retry_after: str | None = None,
    ) -> ApiError: ...

    def scrub(self, text: str) -> str: ...


async def upload(
    conn: Connection, req: UploadRequest, on_bytes: Callable[[int], None] | None = None
) -> UploadAnswer:
    """Raises TransportError / ApiError (retryable kinds) for what may go better next time,
    FileChanged when the file's size moved under us, OSError when it cannot be opened; a final
    refusal is a REJECTED answer carrying the server's message and its kind."""
    fields = [
        ("fileCreatedAt", req.file_created_at),
        ("fileModifiedAt", req.file_modified_at),
        ("filename", req.filename),
    ]
    if conn.major is None or conn.major < 3:  # required by 2.x, unknown to 3.x
        fields[:0] = [("deviceAssetId", req.device_asset_id), ("deviceId", req.device_id)]
    if req.visibility != "timeline":  # the server's own default: sent only when it is not
        fields.insert(-1, ("visibility", req.visibility))
    boundary, head, tail = build_multipart(
        fields, "assetData", req.filename, "application/octet-stream", req.sidecar
    )
    headers = conn.headers(
        {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + req.size + len(tail)),
        }
    )
    if req.checksum:
        headers["x-immich-checksum"] = req.checksum
    # Opened before the request: a missing or unreadable file is an OSError here, not an error
    # buried in the connection. Every attempt re-opens the file from the start. A small file
    # (most screenshots) is read whole in one worker-thread call; a larger one is streamed in
    # chunks, never held in memory.
    if req.data is not None or req.size <= SMALL_FILE:
        data = req.data
        if data is None:
            data = await anyio.to_thread.run_sync(
                read_whole, req.path, req.size, req.follow_symlinks
            )
        return await _send(conn, req, InMemory(req.path, data), head, tail, headers, on_bytes)
    fh = await aiofiles.open(req.path, "rb", opener=opener(req.follow_symlinks))
    try:
        if os.fstat(fh.fileno()).st_size != req.size:
            raise FileChanged(str(req.path))
        return await _send(conn, req, Streamed(fh), head, tail, headers, on_bytes)
    finally:
        with anyio.CancelScope(shield=True):
            await fh.close()


async def _send(
    conn: Connection,
    req: UploadRequest,
    source: InMemory | Streamed,
    head: bytes,
    tail: bytes,
    headers: dict[str, str],
    on_bytes: Callable[[int], None] | None,
) -> UploadAnswer:
    base = conn.base_url  # where this attempt goes, whatever a failover does meanwhile
    sha1 = hashlib.sha1()
    scope = anyio.CancelScope()
    progress = Progress(scope, conn.stall_timeout)
    changed: list[str] = []
    hashing = req.checksum is None  # else the pre-check hashed these very bytes already
    cap = conn.cap
    step = cap.piece if cap is not None else CHUNK

    async def body() -> AsyncIterator[bytes | memoryview]:
        if isinstance(source, InMemory):
            # From memory in CHUNK pieces, the multipart head glued to the first and the tail
            # to the last: a file under CHUNK is one write (one send on the socket, not three),
            # which on a LAN is worth a sixth of the run.
            view = source.view
            if hashing:
                sha1.update(view)
            starts = range(0, req.size, step) if req.size else range(1)
            for start in starts:
                piece = view[start : start + step]
                first, last = start == 0, start + step >= req.size
                out = b"".join((head if first else b"", piece, tail if last else b""))
                if cap is not None:
                    await cap.take(len(out), progress)
                progress.touch(len(piece))
                if on_bytes:
                    on_bytes(len(piece))
                yield out
            progress.touch()
            return
        if cap is not None:
            await cap.take(len(head), progress)
        yield head
        sent = 0
        while chunk := await source.read(step):
            sent += len(chunk)
            if sent > req.size:
                changed.append("grew")
                raise FileChanged(str(req.path))
            if hashing:
                sha1.update(chunk)
            if cap is not None:
                await cap.take(len(chunk), progress)
            progress.touch(len(chunk))
            if on_bytes:
                on_bytes(len(chunk))
            yield chunk
        if sent != req.size:
            changed.append("shrank")
            raise FileChanged(str(req.path))
        if cap is not None:
            await cap.take(len(tail), progress)
        yield tail
        progress.touch()

    log.debug("POST %s %s (%s bytes)", ENDPOINT, req.filename, headers["Content-Length"])
    answer: Answer | None = None
    failure: list[Exception] = []
    # aiohttp's sock_read only starts once the body is sent: the scope's moving deadline (see
    # Progress) aborts an upload that moves no byte for stall_timeout, body or answer.
    with scope:
        try:
            answer = await exchange(
                conn.session,
                "POST",
                base + ENDPOINT,
                ENDPOINT,
                headers=headers,
                data=body(),
                cap=MAX_ERROR_BODY,
                error_cap=MAX_ERROR_BODY,
                ok=frozenset({200, 201}),
            )
        except Exception as error:  # raised below, once we know whether the file changed
            failure.append(error)
    stalled = scope.cancelled_caught
    if changed:
        raise FileChanged(str(req.path))
    if failure:
        raise failure[0]
    if stalled or answer is None:
        reason = f"no progress for {conn.stall_timeout:g} s"
        raise TransportError("POST", ENDPOINT, reason, Kind.STALLED)
    digest = (sha1.hexdigest() if hashing else req.checksum) if progress.sent == req.size else None
    return _answered(conn, req, source, answer, digest, base)


def _answered(
    conn: Connection,
    req: UploadRequest,
    source: InMemory | Streamed,
    answer: Answer,
    digest: str | None,
    base: str,
) -> UploadAnswer:
    """What the server's answer to an upload means."""
    status = answer.status
    log.debug("POST %s %s -> %s", ENDPOINT, req.filename, status)
    kind = kind_of_status(status)
    if kind is Kind.REDIRECTED:
        location = answer.headers.get("location", "")
        raise Redirected(conn.base_url, status, conn.scrub(location))
    if status in (200, 201):
        asset_id, said = answers.upload_answer(answer.body)
        if asset_id is None:
            raise BadAnswer("POST", ENDPOINT, f"HTTP {status} without an asset id")
        if said not in ("created", "duplicate", None):
            what = conn.scrub(f"unknown upload status {said!r}"[:120])
            raise BadAnswer("POST", ENDPOINT, what)
        dup = said == "duplicate" or status == 200
        outcome = Outcome.DUPLICATE if dup else Outcome.CREATED
        after = source.stat()
        if after.st_size != req.size or (req.mtime_ns and after.st_mtime_ns != req.mtime_ns):
            # Rewritten in place while we read it: what the server got may mix old and new.
            raise FileChanged(str(req.path), asset_id)
        return UploadAnswer(outcome, asset_id, checksum=digest, url=base)
    refusal = conn.error(
        "POST", ENDPOINT, status, answer.body, answer.reason, answer.headers.get("retry-after")
    )
    if refusal.kind not in _FINAL:
        # Retried (5xx, 408, 429), or a status no Immich server answers an upload with: the
        # file failed this run and is not recorded.
        raise refusal
    return UploadAnswer(
        Outcome.REJECTED,
        None,
        f"{refusal.status_line}: {refusal.message}",
        digest,
        refusal=refusal.kind,
        url=base,
    )
