"""The one exception tree of async-uploader; every message is written for the user.

    UploaderError                 exit_code  what
    ├── ConfigError                   2      a variable, flag or path is wrong
    ├── ServerUnreachable             3      no configured URL answered the health check
    ├── ImmichError (immich/errors.py)       a request failed; its ``kind`` says what that means
    │   ├── ApiError                  1      the server answered with an error status
    │   ├── AuthRejected              3      the server refused the API key
    │   ├── Redirected                3      a URL answered with a redirect: not the final address
    │   ├── BadAnswer                 1      an answer no Immich server sends
    │   └── TransportError            1      the connection failed (reset, timeout, refused, TLS)
    ├── HistoryError                  1      the history cannot be read or written
    │   ├── HistoryCorrupt            1      SQLite cannot read it (a run moves it aside and goes on)
    │   └── HistoryUnusable           2      a newer version's history, or another program's database
    └── LockHeld                      4      another run holds the lock on the history

Per-file failures are not exceptions: they are outcomes (``outcomes.Outcome``). Lower-level errors
(aiohttp, OSError) are translated once, at the edge that sees them, and chained with ``from``.
A run's error carries what the run did until then (``report``), for the summary it ends with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .outcomes import RunReport

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_LOCKED = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class UploaderError(Exception):
    exit_code = EXIT_PARTIAL
    # Explains every other failure of the same moment (a revoked key): named first of a group.
    explains_others = False
    # What the run had done when this stopped it, once its uploads began (``run.sync``).
    report: RunReport | None = None


class ConfigError(UploaderError):
    exit_code = EXIT_CONFIG


class ServerUnreachable(UploaderError):
    exit_code = EXIT_UNREACHABLE


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


@contextlib.contextmanager
def plain_errors() -> Iterator[None]:
    """Around a task group: a run-stopping error raised inside it (one upload's, the
    pre-check's) comes out wrapped in an exception group; the caller (the CLI's error line and
    exit code) wants it plain. A group holding none of our errors stays as it is."""
    try:
        yield
    except BaseExceptionGroup as group:
        if (error := first_uploader_error(group)) is None:
            raise
        raise error from None


def first_uploader_error(group: BaseExceptionGroup[BaseException]) -> UploaderError | None:
    """The first of our own errors inside a task group's exception group, however nested; one
    that explains the others first of all (a revoked key explains every failure of its moment)."""
    leaves = [e for e in _leaves(group) if isinstance(e, UploaderError)]
    first = [e for e in leaves if e.explains_others]
    return (first or leaves)[0] if leaves else None


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
