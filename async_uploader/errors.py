"""The one exception tree of async-uploader; every message is written for the user.

    UploaderError                 exit_code  what
    ├── ConfigError                   2      a variable, flag or path is wrong
    ├── ServerUnreachable             3      no configured URL answered the health check
    ├── AuthRejected                  3      the server refused the API key (401; 403 on its own check)
    ├── Redirected                    3      a URL answered with a redirect: it is not the final address
    ├── ApiError                      1      the server answered a request with an error status
    ├── BadAnswer                     1      an answer no Immich server sends (not JSON, wrong shape, too big)
    ├── TransportError                1      the connection failed (reset, timeout, refused, TLS)
    ├── HistoryError                  1      the history cannot be read or written
    │   ├── HistoryCorrupt            1      SQLite cannot read it (a run moves it aside and goes on)
    │   └── HistoryUnusable           2      a newer version's history, or another program's database
    └── LockHeld                      4      another run holds the lock on the history

Per-file failures are not exceptions: they are outcomes (``outcomes.Outcome``). Lower-level errors
(aiohttp, OSError) are translated once, at the edge that sees them, and chained with ``from``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_LOCKED = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class UploaderError(Exception):
    exit_code = EXIT_PARTIAL


class ConfigError(UploaderError):
    exit_code = EXIT_CONFIG


class ServerUnreachable(UploaderError):
    exit_code = EXIT_UNREACHABLE


class AuthRejected(UploaderError):
    exit_code = EXIT_UNREACHABLE


class Redirected(UploaderError):
    """A redirect is never followed (it would carry the key elsewhere): the URL must change."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, url: str, status: int, location: str) -> None:
        where = location or "nowhere (no Location header)"
        super().__init__(f"{url} answered {status} to {where}; set the URL to the final address")
        self.status = status
        self.location = location


class BadAnswer(UploaderError):
    """An answer of a shape no Immich server sends: one line naming the endpoint and what is
    wrong. Never retried (a proxy or a server that says garbage once says it again)."""

    def __init__(self, method: str, endpoint: str, what: str) -> None:
        super().__init__(f"{method} {endpoint}: {what}")
        self.method = method
        self.endpoint = endpoint
        self.what = what


class HistoryError(UploaderError):
    exit_code = EXIT_PARTIAL


class HistoryCorrupt(HistoryError):
    """The database is damaged; a run moves it aside and starts afresh (``History.afresh``)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"history {path} is corrupt: {reason}")
        self.reason = reason


class HistoryUnusable(HistoryError):
    """A history this version must not touch: written by a newer one, or not ours at all."""

    exit_code = EXIT_CONFIG


class LockHeld(UploaderError):
    exit_code = EXIT_LOCKED


class TransportError(UploaderError):
    """The request did not get an HTTP answer: refused, reset, timed out, TLS."""

    def __init__(
        self,
        method: str,
        endpoint: str,
        reason: str,
        *,
        idle_close: bool = False,
        server_gone: bool = False,
    ):
        super().__init__(f"{method} {endpoint}: {reason}")
        self.method = method
        self.endpoint = endpoint
        self.reason = reason
        # The server closed a keep-alive connection we reused: retry at once, it is not a failure.
        self.idle_close = idle_close
        # No connection could be made, or the server went silent: time to try the other URL.
        self.server_gone = server_gone


class ApiError(UploaderError):
    """An HTTP error answer, with the server's own message; prints as one line."""

    def __init__(
        self,
        method: str,
        endpoint: str,
        status: int,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{method} {endpoint}: HTTP {status}: {message}")
        self.method = method
        self.endpoint = endpoint
        self.status = status
        self.message = message
        self.retry_after = retry_after


def first_uploader_error(group: BaseExceptionGroup[BaseException]) -> UploaderError | None:
    """The first of our own errors inside a task group's exception group, however nested; an
    AuthRejected first of all (a revoked key explains every other failure of the same moment)."""
    leaves = list(_leaves(group))
    for exc in leaves:
        if isinstance(exc, AuthRejected):
            return exc
    for exc in leaves:
        if isinstance(exc, UploaderError):
            return exc
    return None


def first_cause(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups: what a bug report should name
    instead of "ExceptionGroup: unhandled errors in a TaskGroup"."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out += _leaves(exc)
        else:
            out.append(exc)
    return out
