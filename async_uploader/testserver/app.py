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

from aiohttp import web
from aiohttp.typedefs import Middleware

from .core import CID_KEY, MAX_JSON_BYTES, ApiError, ConnectionDropped, new_cid
from .hostile import route_key
from .routes import AdminRoutes, AlbumRoutes, AssetRoutes, ServerRoutes, UploadRoutes

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


class Emulator(ServerRoutes, AdminRoutes, AlbumRoutes, AssetRoutes, UploadRoutes):
    """One emulated server: its state, its shaping, its routes."""

    def make_app(self, max_body: int | None = None) -> web.Application:
        """The routes, as one address serves them; ``max_body``: a proxy in front of this
        address refuses request bodies over that many bytes (``proxy_body_limit``)."""
        # The hostile behaviours wrap everything, so the emulator's own paths stay as they are.
        middlewares: list[Middleware] = [self.hostile.middleware, self._middleware]
        if max_body is not None:
            middlewares.insert(0, proxy_body_limit(self, max_body))
        app = web.Application(middlewares=middlewares, client_max_size=MAX_JSON_BYTES)
        app[APP_KEY] = self
        r = app.router
        r.add_get("/.well-known/immich", self.well_known)
        r.add_get("/api/server/ping", self.ping)
        r.add_get("/api/server/version", self.version)
        r.add_get("/api/server/about", self.about)
        r.add_get("/api/server/config", self.config)
        r.add_get("/api/server/features", self.features)
        r.add_get("/api/server/media-types", self.media_types)
        r.add_get("/api/users/me", self.users_me)
        r.add_get("/api/api-keys/me", self.api_keys_me)
        r.add_post("/api/api-keys", self.api_key_create)
        r.add_post("/api/auth/login", self.login)
        r.add_get("/api/jobs", self.jobs_list)
        r.add_put("/api/jobs/{name}", self.job_command)
        if self.api_version >= 3:
            r.add_get("/api/queues", self.queues_list)
            r.add_get("/api/queues/{name}", self.queue_get)
            r.add_put("/api/queues/{name}", self.queue_update)
        r.add_get("/api/albums", self.albums_list)
        r.add_post("/api/albums", self.album_create)
        r.add_put("/api/albums/assets", self.albums_bulk_add)
        r.add_get("/api/albums/{id}", self.album_get)
        r.add_put("/api/albums/{id}/assets", self.album_add)
        r.add_delete("/api/albums/{id}/assets", self.album_remove)
        r.add_post("/api/assets", self.upload)
        r.add_delete("/api/assets", self.assets_delete)
        r.add_post("/api/assets/bulk-upload-check", self.bulk_check)
        r.add_get("/api/assets/statistics", self.statistics)
        r.add_get("/api/assets/{id}", self.asset_get)
        r.add_post("/api/search/metadata", self.search_metadata)
        r.add_get("/_testserver/stats", self.testserver_stats)
        r.add_get("/_testserver/state", self.testserver_state)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.state.stats.requests[route_key(request)] += 1
        # A client's own correlation id is echoed, on errors too (golden-v3 39, 39b).
        cid = request.headers.get(self._cid_header()) or new_cid()
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
            response = self._error(exc, cid)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            response = self._error(ApiError(404, f"Cannot {request.method} {request.path}"), cid)
        except (ConnectionDropped, ConnectionError):
            # Cut on purpose, or the client went away mid-body: nothing to answer, nothing to log.
            raise asyncio.CancelledError() from None
        self._idle_since[conn] = time.monotonic()
        if not response.prepared:
            response.headers["X-Powered-By"] = "Express"
            response.headers[self._cid_header()] = cid
            response.headers["Keep-Alive"] = "timeout=5"
            # The real server gzips bodies over about 1 KB for clients that accept it.
            if isinstance(response, web.Response) and response.body is not None:
                body_len = len(response.body)  # type: ignore[arg-type]
                if body_len > 1024 and "gzip" in request.headers.get("Accept-Encoding", ""):
                    response.enable_compression()
        return response
