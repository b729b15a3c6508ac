"""The one table that turns aiohttp's exceptions into ours: every client error class of aiohttp
has a row of its own, most specific first, each with its kind and a reason for people."""

from __future__ import annotations

import errno
import inspect
import ssl

import aiohttp
import aiohttp.client_exceptions
import pytest
from aiohttp.client_reqrep import ConnectionKey

from async_uploader.immich import Kind
from async_uploader.immich.transport import TABLE, classify, transport_error

KEY = ConnectionKey("example.org", 443, True, True, None, None, None)


def aiohttp_client_errors() -> list[type[BaseException]]:
    return [
        cls
        for name in aiohttp.client_exceptions.__all__
        if inspect.isclass(cls := getattr(aiohttp.client_exceptions, name))
        and issubclass(cls, aiohttp.ClientError)
    ]


def test_every_client_error_class_of_aiohttp_has_a_row() -> None:
    rows = {row[0] for row in TABLE}
    missing = [c.__name__ for c in aiohttp_client_errors() if c not in rows]
    assert missing == [], "add a row to immich/transport.py's TABLE for each"


def test_a_class_comes_before_every_class_it_derives_from() -> None:
    """Most specific first: no row is shadowed by a row of a base class above it."""
    always: list[type[BaseException]] = []  # rows without a condition: they take every match
    for cls, when, _, _ in TABLE:
        shadowing = [b.__name__ for b in always if issubclass(cls, b) and b is not cls]
        assert shadowing == [], f"{cls.__name__} comes after {shadowing}"
        if when is None:
            always.append(cls)


def _connector_error(code: int, text: str) -> aiohttp.ClientConnectorError:
    return aiohttp.ClientConnectorError(KEY, OSError(code, text))


@pytest.mark.parametrize(
    ("exc", "kind", "reason"),
    [
        (_connector_error(errno.ECONNREFUSED, "refused"), Kind.CONNECT, "connection refused"),
        (
            _connector_error(errno.EHOSTUNREACH, "No route to host"),
            Kind.CONNECT,
            "cannot connect: No route to host",
        ),
        (
            aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
            Kind.CONNECT,
            "cannot resolve host name",
        ),
        (
            aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad")),
            Kind.TLS,
            None,
        ),
        (ssl.SSLError("handshake"), Kind.TLS, None),
        (aiohttp.ServerTimeoutError("read"), Kind.TIMEOUT, "timed out"),
        (aiohttp.ConnectionTimeoutError("connect"), Kind.TIMEOUT, "timed out"),
        (TimeoutError(), Kind.TIMEOUT, "timed out"),
        (aiohttp.ServerDisconnectedError(), Kind.CLOSED_IDLE, "server closed the connection"),
        (
            aiohttp.ClientOSError(errno.ECONNRESET, "reset"),
            Kind.CLOSED_IDLE,
            "connection reset by peer",
        ),
        (aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"), Kind.CLOSED_IDLE, None),
        (aiohttp.ClientOSError(errno.ENETDOWN, "Network is down"), Kind.BROKEN, None),
        (aiohttp.ClientPayloadError("cut"), Kind.BROKEN, "response cut short"),
        (aiohttp.InvalidURL("http://[::1"), Kind.CONNECT, None),
        (aiohttp.ClientError("something new"), Kind.BROKEN, "ClientError: something new"),
    ],
)
def test_what_a_failure_means(exc: BaseException, kind: Kind, reason: str | None) -> None:
    got_kind, got_reason = classify(exc)
    assert got_kind is kind
    if reason is not None:
        assert got_reason == reason


def test_a_failure_caused_by_a_reset_is_an_idle_close() -> None:
    """aiohttp's "Can not write request body" on a socket the server was closing."""
    exc = aiohttp.ClientOSError(None, "Can not write request body")
    exc.__cause__ = ConnectionResetError()
    assert classify(exc)[0] is Kind.CLOSED_IDLE
    payload = aiohttp.ClientPayloadError("cut")
    payload.__cause__ = BrokenPipeError()
    assert classify(payload)[0] is Kind.CLOSED_IDLE


def test_the_error_names_the_request() -> None:
    err = transport_error("POST", "/api/assets", aiohttp.ServerDisconnectedError())
    assert str(err) == "POST /api/assets: server closed the connection"
    assert err.kind is Kind.CLOSED_IDLE and err.retryable and not err.server_gone
