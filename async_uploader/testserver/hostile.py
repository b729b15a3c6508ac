"""Hostile behaviours on demand: what a broken proxy or a malicious server does to a client.

Kept out of the emulated server's own code paths: one middleware, the outermost, that either
answers in place of the server (an HTML 502, a redirect, a huge or invalid body, no answer at all)
or passes the request on and bends the server's answer (the wrong shape, fields missing, a drip,
the API key echoed in an error). Nothing here changes what the routes themselves do.

Rules name a route by the short names of ``ROUTES`` ("*" for every ``/api`` route; a rule naming
the route comes first) and apply to every matching request, or to the next ``times`` of them.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .records import Stats

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Short names of the routes an uploader calls, by method and route pattern.
ROUTES: dict[str, str] = {
    "GET /api/server/ping": "ping",
    "GET /api/server/version": "version",
    "GET /api/server/config": "config",
    "GET /api/server/media-types": "media-types",
    "GET /api/users/me": "users-me",
    "GET /api/api-keys/me": "api-keys-me",
    "GET /api/albums": "albums",
    "POST /api/albums": "album-create",
    "GET /api/albums/{id}": "album-get",
    "PUT /api/albums/{id}/assets": "album-add",
    "POST /api/assets": "upload",
    "POST /api/assets/bulk-upload-check": "bulk-check",
    "POST /api/search/metadata": "search",
    "GET /api/queues": "queues",
    "PUT /api/queues/{name}": "queue-update",
    "GET /api/jobs": "jobs",
    "PUT /api/jobs/{name}": "job-command",
    "PUT /api/tags": "tags",
    "PUT /api/tags/assets": "tags-assets",
}
HOSTILE_ROUTES = ("*", *ROUTES.values())
HANG_SECONDS = 600.0  # "never" answers, but a test server must stop by itself
PROXY_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Sign in to continue"
    "</h1><form method=post action=/login><input name=user></form></body></html>"
)


class Kind(enum.Enum):
    ECHO_KEY = "echo-key"  # errors carry the request's x-api-key; with a status: always that error
    HTML_502 = "html-502"  # a proxy's HTML error page
    HTML_200 = "html-200"  # a login or captive-portal page, answered 200
    INVALID_JSON = "invalid-json"  # application/json that does not parse (status: default 200)
    WRONG_SHAPE = "wrong-shape"  # the real answer's object as a list, its list as an object
    MISSING_FIELDS = "missing-fields"  # the real answer, the first key of each object dropped
    ID_NEWLINE = "id-newline"  # the real answer, a newline after every id (a UUID) in it
    DRIP = "drip"  # the real answer, PARAM bytes a second (default 1) after the headers
    HANG = "hang"  # the request is taken and never answered
    HUGE = "huge"  # a valid JSON list of PARAM MB (default 100), chunked: no length said first
    REDIRECT = "redirect"  # PARAM (default 302) to the same path at another address
    # The server does the request; its answer is lost on the way back (a proxy gave up):
    LOST = "lost"  # a proxy's HTML page of status PARAM (default 504) instead of the answer
    CUT = "cut"  # the connection closed, no answer at all
    LATE = "late"  # the answer never comes
    FLIP = "flip"  # the real answer, every "isPaused" in it saying the opposite


# Kinds that answer without asking the server behind; the others bend its answer.
_REPLACING = frozenset(
    {Kind.HTML_502, Kind.HTML_200, Kind.INVALID_JSON, Kind.HANG, Kind.HUGE, Kind.REDIRECT}
)


@dataclass
class HostileRule:
    route: str
    kind: Kind
    param: float | None = None
    times: int | None = None  # None: every matching request
    location: str | None = None  # where a redirect points (default: port 9 of 127.0.0.1)

    @classmethod
    def parse(cls, text: str) -> HostileRule:
        """``ROUTE=KIND[:PARAM]``, as the test server's ``--hostile`` flag takes it."""
        route, eq, rest = text.partition("=")
        kind_name, _, param = rest.partition(":")
        if not eq or route not in HOSTILE_ROUTES:
            raise ValueError(f"route must be one of {', '.join(HOSTILE_ROUTES)}, in {text!r}")
        try:
            kind = Kind(kind_name)
        except ValueError:
            known = ", ".join(k.value for k in Kind)
            raise ValueError(f"unknown hostile kind {kind_name!r}; known: {known}") from None
        try:
            value = float(param) if param else None
        except ValueError:
            raise ValueError(f"the parameter of {text!r} must be a number") from None
        if value is not None and value <= 0:
            raise ValueError(f"the parameter of {text!r} must be positive")
        return cls(route, kind, value)


def route_key(request: web.Request) -> str:
    """ "METHOD /pattern" of a request, as the counters and ``ROUTES`` name it."""
    route = request.match_info.route.resource
    return f"{request.method} {route.canonical if route is not None else request.path}"


class Hostile:
    """The rules in force, and the middleware that applies them."""

    def __init__(self, stats: Stats, error_response: Callable[[int, str], web.Response]) -> None:
        self.stats = stats
        self.error_response = error_response  # an error in the emulated server's own shape
        self.rules: list[HostileRule] = []

    def add(self, rule: HostileRule) -> None:
        if rule.route not in HOSTILE_ROUTES:
            raise ValueError(f"route must be one of {', '.join(HOSTILE_ROUTES)}")
        self.rules.append(rule)

    def clear(self) -> None:
        self.rules.clear()

    def _take(self, request: web.Request) -> HostileRule | None:
        """The rule for this request: one naming its route before one for every route."""
        name = ROUTES.get(route_key(request))
        named = [r for r in self.rules if r.route == name]
        every = [r for r in self.rules if r.route == "*" and request.path.startswith("/api/")]
        for rule in named + every:
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
            return rule
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.rules:
            return await handler(request)
        rule = self._take(request)
        if rule is None:
            return await handler(request)
        stats = self.stats
        stats.faults[f"hostile-{rule.kind.value}"] += 1
        key = request.headers.get("x-api-key", "")
        if rule.kind in _REPLACING or (rule.kind is Kind.ECHO_KEY and rule.param):
            stats.requests[route_key(request)] += 1  # the server behind never sees it
            if rule.kind is Kind.HANG:
                await asyncio.sleep(HANG_SECONDS)
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError()
            await _discard_body(request)
            return await self._replace(request, rule, key)
        response = await handler(request)
        if rule.kind in _AFTER:  # done by the server; the answer does not get back as it was
            return await self._lose(request, response, rule)
        if rule.kind is Kind.DRIP:
            return await _drip(request, response, rule.param or 1.0)
        if not isinstance(response, web.Response) or response.prepared:
            return response  # an answer already on its way (an early upload answer): as it is
        if rule.kind is Kind.ECHO_KEY:
            if response.status >= 400:
                _rewrite(response, lambda d: _with_key(d, key))
            return response
        if 200 <= response.status < 300:
            bend = _BENDS[rule.kind]
            _rewrite(response, bend)
        return response

    async def _lose(
        self, request: web.Request, response: web.StreamResponse, rule: HostileRule
    ) -> web.StreamResponse:
        if rule.kind is Kind.LOST:
            status = int(rule.param or 504)
            page = PROXY_502.replace("502 Bad Gateway", f"{status} Gateway Time-out")
            return web.Response(status=status, text=page, content_type="text/html")
        if rule.kind is Kind.FLIP:
            if isinstance(response, web.Response) and not response.prepared:
                _rewrite(response, _flip)
            return response
        if rule.kind is Kind.LATE:
            await asyncio.sleep(HANG_SECONDS)
        if request.transport is not None:  # CUT, or LATE at last
            request.transport.abort()
        raise asyncio.CancelledError()

    async def _replace(
        self, request: web.Request, rule: HostileRule, key: str
    ) -> web.StreamResponse:
        kind, param = rule.kind, rule.param
        assert kind is not Kind.HANG
        if kind is Kind.ECHO_KEY:
            status = int(param or 400)
            message = f"Invalid request for API key {key}"
            return self.error_response(status, message)
        if kind is Kind.HTML_502:
            return web.Response(status=502, text=PROXY_502, content_type="text/html")
        if kind is Kind.HTML_200:
            return web.Response(status=200, text=LOGIN_PAGE, content_type="text/html")
        if kind is Kind.INVALID_JSON:
            return web.Response(
                status=int(param or 200), body=b'{"id":"', content_type="application/json"
            )
        if kind is Kind.REDIRECT:
            status = int(param or 302)
            if status not in (301, 302, 303, 307, 308):
                status = 302
            location = (rule.location or "http://127.0.0.1:9") + request.path_qs
            return web.Response(
                status=status,
                headers={"Location": location},
                text=f"Found. Redirecting to {location}",
            )
        assert kind is Kind.HUGE
        return await _huge(request, int((param or 100) * 1024 * 1024))


async def _discard_body(request: web.Request) -> None:
    """A proxy reads the request before it answers; so do we (bounded by what the client sends)."""
    if request.can_read_body:
        try:
            while await request.content.read(256 * 1024):
                pass
        except (TimeoutError, ConnectionError):
            pass


def _rewrite(response: web.Response, change: Callable[[Any], Any]) -> None:
    body = response.body
    if not isinstance(body, bytes | bytearray):
        return
    try:
        data = json.loads(body)
    except ValueError:
        return
    response.body = json.dumps(change(data), separators=(",", ":")).encode()


def _with_key(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        message = data.get("message")
        echo = f"(x-api-key was {key})"
        if isinstance(message, list):
            data["message"] = [*message, echo]
        else:
            data["message"] = f"{message} {echo}"
    return data


def _wrong_shape(data: Any) -> Any:
    return {"oops": True} if isinstance(data, list) else [1, 2, 3]


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _id_newline(data: Any) -> Any:
    """Every id (a UUID, under any key) of the answer with a newline after it: what a check
    with "$" lets through. A bulk check's own ids ("0", "1"...) stay as they were."""
    if isinstance(data, list):
        return [_id_newline(item) for item in data]
    if isinstance(data, dict):
        return {k: _id_newline(v) for k, v in data.items()}
    if isinstance(data, str) and _UUID.fullmatch(data):
        return data + "\n"
    return data


def _drop_first_keys(data: Any) -> Any:
    def drop(obj: Any) -> Any:
        if isinstance(obj, dict) and obj:
            del obj[next(iter(obj))]
        return obj

    return [drop(item) for item in data] if isinstance(data, list) else drop(data)


async def _drip(
    request: web.Request, response: web.StreamResponse, per_second: float
) -> web.StreamResponse:
    """The server's answer, its headers at once and then ``per_second`` bytes a second."""
    if not isinstance(response, web.Response) or response.prepared:
        return response
    body = response.body if isinstance(response.body, bytes | bytearray) else b""
    out = web.StreamResponse(status=response.status, headers=response.headers)
    out.content_length = len(body)
    await out.prepare(request)
    step = max(1, int(per_second / 10))  # about ten writes a second
    try:
        for start in range(0, len(body), step):
            await asyncio.sleep(step / per_second)
            await out.write(bytes(body[start : start + step]))
        await out.write_eof()
    except ConnectionError:
        pass  # the client gave up: that is the point
    return out


async def _huge(request: web.Request, size: int) -> web.StreamResponse:
    """A valid JSON list of strings, ``size`` bytes, written in 1 MiB pieces (never held whole),
    chunked: a client learns how big it is only by reading it."""
    piece = 1024 * 1024
    count = max(1, size // piece)
    item = b'"' + b"x" * (piece - 3) + b'"'  # each element plus its comma is one piece
    out = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    out.enable_chunked_encoding()
    await out.prepare(request)
    try:
        await out.write(b"[")
        for i in range(count):
            await out.write(item if i == 0 else b"," + item)
        await out.write(b"]")
        await out.write_eof()
    except ConnectionError:
        pass  # the client stopped reading
    return out


_AFTER = frozenset({Kind.LOST, Kind.CUT, Kind.LATE, Kind.FLIP})


def _flip(data: Any) -> Any:
    """The answer with every "isPaused" saying the opposite: an answer that lies."""
    if isinstance(data, list):
        return [_flip(item) for item in data]
    if isinstance(data, dict):
        return {
            k: (not v) if k == "isPaused" and isinstance(v, bool) else _flip(v)
            for k, v in data.items()
        }
    return data


_BENDS: dict[Kind, Callable[[Any], Any]] = {
    Kind.WRONG_SHAPE: _wrong_shape,
    Kind.MISSING_FIELDS: _drop_first_keys,
    Kind.ID_NEWLINE: _id_newline,
}
