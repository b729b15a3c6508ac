"""The emulated Immich HTTP API (aiohttp.web): the routes a folder uploader touches.

Status codes, bodies (key order included), error shapes and the odd corners (checksum header trusted
before the body, field order deciding the type check, idle sockets closed at 6 s) follow the real
Immich servers as recorded in shared/immich/golden (2.7.5) and golden-v3 (3.1.0). Here: the route
table and the middleware every request passes; the routes are in ``routes/``, one module per area,
over what they share (``core``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from .core import Core
from .hostile import route_key
from .routes import AdminRoutes, AlbumRoutes, AssetRoutes, ServerRoutes, TagRoutes, UploadRoutes
from .shapes import CID_KEY, MAX_JSON_BYTES, ApiError, ConnectionDropped, new_cid

APP_KEY: web.AppKey[Emulator] = web.AppKey("emulator")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# What nginx answers a body over client_max_body_size (Cloudflare's page says the same in more
# words): HTML, not Immich's JSON, because the request never reaches Immich.
PROXY_413 = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def proxy_body_limit(emulator: Emulator, max_body: int) -> Middleware:
    """A reverse proxy's body limit in front of one address: a request whose Content-Length is
    over ``max_body`` is answered 413 at once, before a byte of its body is read, as nginx does
    (which then reads and throws away what the client goes on sending: aiohttp's lingering
    read does the same here). A body sent without a length (chunked) passes: every uploader
    sends multipart with its length, and this limit is for staging theirs."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        over = length is not None and length > max_body
        if not over:
            return await handler(request)
        emulator.state.stats.faults["proxy-413"] += 1
        return web.Response(
            status=413,
            text=PROXY_413,
            content_type="text/html",
            headers={"Server": "nginx"},
        )

    return limit


class Emulator(Core):
    """One emulated server: its state, its shaping, and the routes of each area of the API,
    composed: each is given this core and adds its own routes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.areas = (
            ServerRoutes(self),
            AdminRoutes(self),
            AlbumRoutes(self),
            AssetRoutes(self),
            TagRoutes(self),
            UploadRoutes(self),
        )

    def make_app(self, max_body: int | None = None) -> web.Application:
        """The routes, as one address serves them; ``max_body``: a proxy in front of this
        address refuses request bodies over that many bytes (``proxy_body_limit``)."""
        # The hostile behaviours wrap everything, so the emulator's own paths stay as they are.
        middlewares: list[Middleware] = [self.hostile.middleware, self._middleware]
        if max_body is not None:
            middlewares.insert(0, proxy_body_limit(self, max_body))
        app = web.Application(middlewares=middlewares, client_max_size=MAX_JSON_BYTES)
        app[APP_KEY] = self
        for area in self.areas:
            area.add_to(app.router)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.state.stats.requests[route_key(request)] += 1
        # A client's own correlation id is echoed, on errors too (golden-v3 39, 39b).
        cid = request.headers.get(self.cid_header()) or new_cid()
        request[CID_KEY] = cid
        transport = request.transport
        conn = id(transport)
        idle_since = self._idle_since.pop(conn, None)
        limit = self.shaping.idle_reset_seconds
        if limit and idle_since is not None and time.monotonic() - idle_since > limit:
            self.state.stats.faults["idle-reset"] += 1
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError()
        if self.shaping.latency_ms > 0 and not request.path.startswith("/_testserver"):
            await asyncio.sleep(self.shaping.latency_ms / 1000)
        try:
            response = await handler(request)
        except ApiError as exc:
            response = self.error(exc, cid)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            response = self.error(ApiError(404, f"Cannot {request.method} {request.path}"), cid)
        except (ConnectionDropped, ConnectionError):
            # Cut on purpose, or the client went away mid-body: nothing to answer, nothing to log.
            raise asyncio.CancelledError() from None
        self._idle_since[conn] = time.monotonic()
        if not response.prepared:
            response.headers["X-Powered-By"] = "Express"
            response.headers[self.cid_header()] = cid
            response.headers["Keep-Alive"] = "timeout=5"
            # The real server gzips bodies over about 1 KB for clients that accept it.
            if isinstance(response, web.Response) and response.body is not None:
                body_len = len(response.body)  # type: ignore[arg-type]
                if body_len > 1024 and "gzip" in request.headers.get("Accept-Encoding", ""):
                    response.enable_compression()
        return response
