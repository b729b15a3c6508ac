"""The one exception tree of async-uploader; every message is written for the user.

    UploaderError                 exit_code  what
    ├── ConfigError                   2      a variable, flag or path is wrong
    ├── ServerUnreachable             3      no configured URL answered the health check
    ├── AuthRejected                  3      the server refused the API key
    ├── ApiError                      1      the server answered a request with an error status
    ├── TransportError                1      the connection failed (reset, timeout, refused, TLS)
    ├── HistoryError                  1      the history cannot be written
    └── LockHeld                      4      another run holds the lock on the history

Per-file failures are not exceptions: they are outcomes (see ``outcomes``). Lower-level errors
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


class HistoryError(UploaderError):
    exit_code = EXIT_PARTIAL


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
    """The first of our own errors inside a task group's exception group, however nested."""
    for exc in group.exceptions:
        if isinstance(exc, UploaderError):
            return exc
        if isinstance(exc, BaseExceptionGroup) and (found := first_uploader_error(exc)):
            return found
    return None
