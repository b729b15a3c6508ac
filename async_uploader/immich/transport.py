"""Moving bytes: the aiohttp session, one exchange, and the one table that turns aiohttp's errors
into ours. The only module of the uploader that imports aiohttp.

It knows no Immich path, status code or field: ``client`` decides what an answer means (httpx's
split of the client, which decides, from the transport, which moves bytes). Every body it reads
is capped; a redirect is never followed (it would carry the key to another host).
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import BadAnswer, Kind, TransportError

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
    except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
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


# -- the one table of what a lower-level failure means ------------------------------------------
# (exception class, when (None: always), kind, the user's reason). Most specific first: the first
# row whose class and condition match decides. tests/unit/test_immich_transport.py holds that
# every client error class of aiohttp has a row of its own.
Row = tuple[type[BaseException], Callable[[Any], bool] | None, Kind, Callable[[Any], str]]


def _errno(*codes: int | None) -> Callable[[Any], bool]:
    return lambda exc: getattr(exc, "errno", None) in codes


def _reset_below(exc: BaseException) -> bool:
    """A failure whose cause is the peer closing the socket ("Can not write request body")."""
    cause = exc.__cause__ or exc.__context__
    return isinstance(cause, ConnectionResetError | BrokenPipeError)


def _os_reason(exc: Any) -> str:
    return f"connection error: {exc.strerror or exc}"


TABLE: tuple[Row, ...] = (
    # TLS: a handshake or a certificate the server's name does not match
    (
        aiohttp.ClientConnectorCertificateError,
        None,
        Kind.TLS,
        lambda e: f"TLS certificate error: {e.certificate_error}",
    ),
    (aiohttp.ClientConnectorSSLError, None, Kind.TLS, lambda e: f"TLS error: {e}"),
    (aiohttp.ClientSSLError, None, Kind.TLS, lambda e: f"TLS error: {e}"),
    (aiohttp.ServerFingerprintMismatch, None, Kind.TLS, lambda e: "TLS certificate fingerprint"),
    (ssl.SSLError, None, Kind.TLS, lambda e: f"TLS error: {e}"),
    # Nothing to talk to
    (aiohttp.ClientConnectorDNSError, None, Kind.CONNECT, lambda e: "cannot resolve host name"),
    (
        aiohttp.ClientProxyConnectionError,
        None,
        Kind.CONNECT,
        lambda e: f"cannot connect to the proxy: {e.os_error.strerror or e.os_error}",
    ),
    (
        aiohttp.ClientConnectorError,
        lambda e: e.os_error.errno == errno.ECONNREFUSED,
        Kind.CONNECT,
        lambda e: "connection refused",
    ),
    (
        aiohttp.ClientConnectorError,
        None,
        Kind.CONNECT,
        lambda e: f"cannot connect: {e.os_error.strerror or e.os_error}",
    ),
    (aiohttp.InvalidUrlRedirectClientError, None, Kind.CONNECT, lambda e: f"invalid URL: {e}"),
    (aiohttp.InvalidUrlClientError, None, Kind.CONNECT, lambda e: f"invalid URL: {e}"),
    (aiohttp.InvalidURL, None, Kind.CONNECT, lambda e: f"invalid URL: {e}"),
    (aiohttp.NonHttpUrlRedirectClientError, None, Kind.CONNECT, lambda e: f"not an http URL: {e}"),
    (aiohttp.NonHttpUrlClientError, None, Kind.CONNECT, lambda e: f"not an http URL: {e}"),
    (aiohttp.RedirectClientError, None, Kind.CONNECT, lambda e: f"redirect: {e}"),
    # No answer in time
    (aiohttp.ConnectionTimeoutError, None, Kind.TIMEOUT, lambda e: "timed out"),
    (aiohttp.SocketTimeoutError, None, Kind.TIMEOUT, lambda e: "timed out"),
    (aiohttp.ServerTimeoutError, None, Kind.TIMEOUT, lambda e: "timed out"),
    (TimeoutError, None, Kind.TIMEOUT, lambda e: "timed out"),
    # The server closed a kept-alive socket we reused: retried at once, not a failure
    (
        aiohttp.ServerDisconnectedError,
        None,
        Kind.CLOSED_IDLE,
        lambda e: "server closed the connection",
    ),
    (
        aiohttp.ClientConnectionResetError,
        None,
        Kind.CLOSED_IDLE,
        lambda e: "connection reset by peer",
    ),
    (
        aiohttp.ClientOSError,
        _errno(errno.ECONNRESET),
        Kind.CLOSED_IDLE,
        lambda e: "connection reset by peer",
    ),
    (aiohttp.ClientOSError, _errno(errno.EPIPE, None), Kind.CLOSED_IDLE, _os_reason),
    (aiohttp.ClientError, _reset_below, Kind.CLOSED_IDLE, lambda e: "connection reset by peer"),
    # The connection broke, or the answer did
    (aiohttp.ClientOSError, None, Kind.BROKEN, _os_reason),
    (aiohttp.ClientPayloadError, None, Kind.BROKEN, lambda e: "response cut short"),
    (aiohttp.UploadAbortedError, None, Kind.BROKEN, lambda e: "upload aborted"),
    (aiohttp.ServerConnectionError, None, Kind.BROKEN, lambda e: f"server connection: {e}"),
    (aiohttp.ClientHttpProxyError, None, Kind.BROKEN, lambda e: f"proxy error: {e}"),
    (aiohttp.WSServerHandshakeError, None, Kind.BROKEN, lambda e: f"{type(e).__name__}: {e}"),
    (aiohttp.ContentTypeError, None, Kind.BROKEN, lambda e: f"{type(e).__name__}: {e}"),
    (aiohttp.ClientResponseError, None, Kind.BROKEN, lambda e: f"{type(e).__name__}: {e}"),
    (aiohttp.ClientConnectionError, None, Kind.BROKEN, lambda e: f"{type(e).__name__}: {e}"),
    (aiohttp.ClientError, None, Kind.BROKEN, lambda e: f"{type(e).__name__}: {e}"),
)


def classify(exc: BaseException) -> tuple[Kind, str]:
    """What a lower-level failure means, and how to say it: the first row of TABLE that fits."""
    for cls, when, kind, reason in TABLE:
        if isinstance(exc, cls) and (when is None or when(exc)):
            return kind, reason(exc)
    return Kind.BROKEN, f"{type(exc).__name__}: {exc}"


def transport_error(method: str, endpoint: str, exc: BaseException) -> TransportError:
    kind, reason = classify(exc)
    return TransportError(method, endpoint, reason, kind)
