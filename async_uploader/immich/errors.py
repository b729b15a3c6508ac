"""What went wrong with a request, as a value: every error that leaves ``immich/`` carries a
``Kind``, assigned once in here (the status table below, the transport's table of aiohttp's
exceptions), and the rest of the package decides on the kind alone: never on a status code or
on an error's text.

    UploaderError (errors.py)
    └── ImmichError              kind              exit  what
        ├── ApiError             BUSY, SERVER_FAILED, TOO_LARGE, NOT_FOUND, FORBIDDEN,
        │                        REJECTED, UNEXPECTED    1  an HTTP error answer
        ├── AuthRejected         AUTH                    3  the server refused the API key
        ├── Redirected           REDIRECTED              3  a redirect (never followed)
        ├── BadAnswer            BAD_ANSWER              1  an answer no Immich server sends
        └── TransportError       CONNECT, TLS, TIMEOUT, STALLED, CLOSED_IDLE, BROKEN
                                                         1  no HTTP answer at all
"""

from __future__ import annotations

import enum

from ..errors import EXIT_PARTIAL, EXIT_UNREACHABLE, UploaderError


class Kind(enum.Enum):
    """What a failed request means, whatever the status code or exception behind it."""

    # An HTTP answer
    BUSY = "busy"  # 408, 429, 502, 503, 504: the server or its proxy has too much to do
    SERVER_FAILED = "server failed"  # 500 and the other 5xx: it failed on this request
    TOO_LARGE = "too large"  # 413: a body limit (a proxy's, most often)
    NOT_FOUND = "not found"  # 404, 405: no such route (an older server) or thing
    FORBIDDEN = "forbidden"  # 403: the key may not do this
    AUTH = "auth"  # 401: the key itself is refused
    REJECTED = "rejected"  # any other 4xx: this request will never succeed as it is
    UNEXPECTED = "unexpected"  # a status no Immich server answers this with (1xx, 2xx, 3xx)
    REDIRECTED = "redirected"  # 301, 302, 303, 307, 308: never followed (the key would go too)
    BAD_ANSWER = "bad answer"  # an answer of a shape no Immich server sends
    # No HTTP answer
    CONNECT = "connect"  # refused, no such host, unreachable: nothing to talk to
    TLS = "tls"  # the TLS handshake or the certificate failed
    TIMEOUT = "timeout"  # no (complete) answer in time
    STALLED = "stalled"  # an upload moved no byte for the stall timeout
    CLOSED_IDLE = "closed idle"  # a kept-alive socket the server was closing: retry at once
    BROKEN = "broken"  # the connection broke mid-exchange, or the answer was cut short

    @property
    def retryable(self) -> bool:
        """Worth another attempt: the one predicate of ``retry``."""
        return self in _RETRYABLE

    @property
    def server_gone(self) -> bool:
        """The server at this URL cannot be reached: time to race the other URL."""
        return self in _GONE

    @property
    def congestion(self) -> bool:
        """What a server (or the proxy before it) answers when it has too much to do. A 500 is
        not load: Immich answers it for a file it fails on."""
        return self in _CONGESTION


_RETRYABLE = frozenset(
    {
        Kind.BUSY,
        Kind.SERVER_FAILED,
        Kind.CONNECT,
        Kind.TLS,
        Kind.TIMEOUT,
        Kind.STALLED,
        Kind.CLOSED_IDLE,
        Kind.BROKEN,
    }
)
_GONE = frozenset({Kind.CONNECT, Kind.TLS, Kind.TIMEOUT, Kind.STALLED})
_CONGESTION = frozenset({Kind.BUSY, Kind.TIMEOUT, Kind.STALLED})

REDIRECTS = frozenset({301, 302, 303, 307, 308})


def kind_of_status(status: int) -> Kind:
    """The one table of what an error status means."""
    if status in REDIRECTS:
        return Kind.REDIRECTED
    if status in (408, 429, 502, 503, 504):
        return Kind.BUSY
    if status >= 500:
        return Kind.SERVER_FAILED
    if status == 413:
        return Kind.TOO_LARGE
    if status in (404, 405):
        return Kind.NOT_FOUND
    if status == 403:
        return Kind.FORBIDDEN
    if status == 401:
        return Kind.AUTH
    if status >= 400:
        return Kind.REJECTED
    return Kind.UNEXPECTED


class ImmichError(UploaderError):
    """A request that did not succeed, with what it means (``kind``) and a short ``reason``
    (the line's end, without the request) for tables and log lines."""

    kind: Kind = Kind.UNEXPECTED

    def __init__(self, text: str, reason: str, method: str = "", endpoint: str = "") -> None:
        super().__init__(text)
        self.reason = reason
        self.method = method
        self.endpoint = endpoint

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    @property
    def server_gone(self) -> bool:
        return self.kind.server_gone


class ApiError(ImmichError):
    """An HTTP error answer, with the server's own message; prints as one line."""

    def __init__(
        self,
        method: str,
        endpoint: str,
        status: int,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            f"{method} {endpoint}: HTTP {status}: {message}", message, method, endpoint
        )
        self.kind = kind_of_status(status)
        self.status_line = f"HTTP {status}"  # for a log line; decisions go by ``kind``
        self.message = message
        self.retry_after = retry_after


class AuthRejected(ImmichError):
    """The server refused the API key (401; 403 on its own check)."""

    kind = Kind.AUTH
    exit_code = EXIT_UNREACHABLE
    explains_others = True

    def __init__(self, text: str) -> None:
        super().__init__(text, text)


class Redirected(ImmichError):
    """A redirect is never followed (it would carry the key elsewhere): the URL must change."""

    kind = Kind.REDIRECTED
    exit_code = EXIT_UNREACHABLE

    def __init__(self, url: str, status: int, location: str) -> None:
        where = location or "nowhere (no Location header)"
        reason = f"answered {status} to {where}; set the URL to the final address"
        super().__init__(f"{url} {reason}", reason)
        self.location = location


class BadAnswer(ImmichError):
    """An answer of a shape no Immich server sends: one line naming the endpoint and what is
    wrong. Never retried (a proxy or a server that says garbage once says it again)."""

    kind = Kind.BAD_ANSWER
    exit_code = EXIT_PARTIAL

    def __init__(self, method: str, endpoint: str, what: str) -> None:
        super().__init__(f"{method} {endpoint}: {what}", what, method, endpoint)
        self.what = what


class TransportError(ImmichError):
    """The request did not get an HTTP answer: refused, reset, timed out, TLS."""

    def __init__(self, method: str, endpoint: str, reason: str, kind: Kind) -> None:
        super().__init__(f"{method} {endpoint}: {reason}", reason, method, endpoint)
        self.kind = kind
