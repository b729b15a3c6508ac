"""What a failed request means: the one table of status codes, and what each kind implies for a
retry, a move to the other URL and the tuner."""

from __future__ import annotations

import pytest

from async_uploader.immich import (
    ApiError,
    AuthRejected,
    BadAnswer,
    Kind,
    Redirected,
    TransportError,
)
from async_uploader.immich.errors import kind_of_status


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (301, Kind.REDIRECTED),
        (302, Kind.REDIRECTED),
        (308, Kind.REDIRECTED),
        (400, Kind.REJECTED),
        (401, Kind.AUTH),
        (403, Kind.FORBIDDEN),
        (404, Kind.NOT_FOUND),
        (405, Kind.NOT_FOUND),
        (408, Kind.BUSY),
        (409, Kind.REJECTED),
        (413, Kind.TOO_LARGE),
        (415, Kind.REJECTED),
        (422, Kind.REJECTED),
        (429, Kind.BUSY),
        (500, Kind.SERVER_FAILED),
        (501, Kind.SERVER_FAILED),
        (502, Kind.BUSY),
        (503, Kind.BUSY),
        (504, Kind.BUSY),
        (520, Kind.SERVER_FAILED),
        (200, Kind.UNEXPECTED),
        (204, Kind.UNEXPECTED),
        (304, Kind.UNEXPECTED),
        (101, Kind.UNEXPECTED),
    ],
)
def test_every_status_has_one_kind(status: int, kind: Kind) -> None:
    assert kind_of_status(status) is kind
    assert ApiError("GET", "/api/x", status, "m").kind is kind


def test_what_each_kind_implies() -> None:
    retried = {k for k in Kind if k.retryable}
    assert retried == {
        Kind.BUSY,
        Kind.SERVER_FAILED,
        Kind.CONNECT,
        Kind.TLS,
        Kind.TIMEOUT,
        Kind.STALLED,
        Kind.CLOSED_IDLE,
        Kind.BROKEN,
    }
    assert {k for k in Kind if k.server_gone} == {
        Kind.CONNECT,
        Kind.TLS,
        Kind.TIMEOUT,
        Kind.STALLED,
    }
    # A 500 is a file the server failed on, not load: the tuner does not back off for it.
    assert {k for k in Kind if k.congestion} == {Kind.BUSY, Kind.TIMEOUT, Kind.STALLED}


def test_each_error_prints_as_one_line_and_carries_its_kind() -> None:
    api = ApiError("PUT", "/api/albums/x/assets", 503, "busy", retry_after=2.0)
    assert str(api) == "PUT /api/albums/x/assets: HTTP 503: busy" and api.reason == "busy"
    assert api.status_line == "HTTP 503" and api.retryable and api.retry_after == 2.0
    gone = TransportError("GET", "/api/albums", "connection refused", Kind.CONNECT)
    assert str(gone) == "GET /api/albums: connection refused" and gone.server_gone
    bad = BadAnswer("GET", "/api/albums", "expected a list")
    assert (bad.kind, bad.retryable, bad.exit_code) == (Kind.BAD_ANSWER, False, 1)
    moved = Redirected("http://a", 302, "https://b/x")
    assert moved.kind is Kind.REDIRECTED and moved.exit_code == 3
    assert str(moved) == "http://a answered 302 to https://b/x; set the URL to the final address"
    refused = AuthRejected("API key rejected by http://a: Invalid API key")
    assert refused.kind is Kind.AUTH and refused.exit_code == 3 and refused.explains_others
