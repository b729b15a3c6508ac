"""Moving bytes: the aiohttp session, one exchange, and the one table that turns aiohttp's errors
into ours. The only module of the uploader that imports aiohttp.

It knows no Immich path, status code or field: ``api`` decides what an answer means (httpx's split
of the client, which decides, from the transport, which moves bytes). Every body it reads is
capped; a redirect is never followed (it would carry the key to another host).
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import BadAnswer, TransportError

# The real server closes idle keep-alive sockets after ~6 s while announcing 5 s; never reuse one
# that has been idle for longer than this.
KEEPALIVE_SECONDS = 3.0
USER_AGENT = "async-uploader/0.1"
Session = aiohttp.ClientSession  # for the modules that hold one and must not import aiohttp


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as plain values: the status, the few headers anyone reads, the body."""

    status: int
    reason: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


WANTED_HEADERS = ("location", "retry-after", "x-correlation-id", "x-immich-cid")


def open_session(concurrency: int, stall_timeout: float) -> aiohttp.ClientSession:
    """One session per run. No total timeout: a big video on a slow link must finish; instead a
    connect timeout, and an inactivity timeout on reading (the body side has its own watchdog)."""
    connector = aiohttp.TCPConnector(
        limit=concurrency + 4, keepalive_timeout=KEEPALIVE_SECONDS, ttl_dns_cache=60
    )
    timeout = aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=10, sock_read=stall_timeout
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        auto_decompress=True,
    )


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    endpoint: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    data: AsyncIterable[bytes | memoryview] | None = None,
    cap: int,
    error_cap: int,
    ok: frozenset[int] = frozenset(range(200, 300)),
) -> Answer:
    """One request, never redirected. An answer whose status is in ``ok`` is read whole up to
    ``cap`` bytes (past that, BadAnswer naming ``endpoint``); any other only its first
    ``error_cap`` bytes (its message is all anyone wants of it). Transport failures are
    TransportError; cancellation passes through."""
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            json=json,
            data=data,
            allow_redirects=False,
            compress=False if data is not None else None,
        ) as resp:
            if resp.status in ok:
                body = await _read_capped(resp, cap, method, endpoint)
            else:
                body = await _read_start(resp, error_cap)
            wanted = {h: resp.headers[h] for h in WANTED_HEADERS if h in resp.headers}
            return Answer(resp.status, resp.reason or "", wanted, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise transport_error(method, endpoint, exc) from exc


async def _read_capped(resp: aiohttp.ClientResponse, cap: int, method: str, endpoint: str) -> bytes:
    """The (decompressed) body, never more than ``cap`` bytes of it in memory: a bigger answer
    is a BadAnswer, whatever its Content-Length said."""
    declared = resp.content_length
    if declared is not None and declared > cap:
        raise BadAnswer(
            method, endpoint, f"an answer of {declared:,} bytes is over the {cap:,}-byte limit"
        )
    body = bytearray()
    while chunk := await resp.content.read(64 * 1024):
        body += chunk
        if len(body) > cap:
            raise BadAnswer(method, endpoint, f"the answer is over the {cap:,}-byte limit")
    return bytes(body)


async def _read_start(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    body = bytearray()
    while len(body) < cap and (chunk := await resp.content.read(16 * 1024)):
        body += chunk
    return bytes(body[:cap])


# -- the one table of what a lower-level failure means --------------------------------------
def transport_error(method: str, endpoint: str, exc: BaseException) -> TransportError:
    return TransportError(
        method,
        endpoint,
        _reason(exc),
        idle_close=_is_idle_close(exc),
        server_gone=_is_server_gone(exc),
    )


def _reason(exc: BaseException) -> str:
    """A short, user-facing reason for a transport failure."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate error: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "cannot resolve host name"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED:
            return "connection refused"
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection"
    if isinstance(exc, aiohttp.ClientOSError):
        if exc.errno == errno.ECONNRESET:
            return "connection reset by peer"
        return f"connection error: {exc.strerror or exc}"
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "response cut short"
    return f"{type(exc).__name__}: {exc}"


def _is_server_gone(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerTimeoutError | TimeoutError)


def _is_idle_close(exc: BaseException) -> bool:
    """The ways a request on a socket the server was closing fails: disconnected before any
    answer, reset, or the body write refused ("Can not write request body")."""
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError | BrokenPipeError):
        return True
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in (
        errno.ECONNRESET,
        errno.EPIPE,
        None,
    ):
        return True
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, ConnectionResetError | BrokenPipeError)
