"""GET /api/server/*, /api/users/me and /.well-known/immich; and the two routes only the test server
has, /_testserver/stats and /_testserver/state."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..core import Core
from ..data import (
    SERVER_CONFIG,
    SERVER_CONFIG_V3,
    USER,
)
from ..shapes import json_response


class ServerRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_get("/.well-known/immich", self.well_known)
        r.add_get("/api/server/ping", self.ping)
        r.add_get("/api/server/version", self.version)
        r.add_get("/api/server/about", self.about)
        r.add_get("/api/server/config", self.config)
        r.add_get("/api/server/features", self.features)
        r.add_get("/api/server/media-types", self.media_types)
        r.add_get("/api/users/me", self.users_me)
        r.add_get("/_testserver/stats", self.testserver_stats)
        r.add_get("/_testserver/state", self.testserver_state)

    async def well_known(self, request: web.Request) -> web.Response:
        return json_response({"api": {"endpoint": "/api"}})

    async def ping(self, request: web.Request) -> web.Response:
        return json_response({"res": "pong"})

    async def version(self, request: web.Request) -> web.Response:
        major, minor, patch = self.core.server_version
        body: dict[str, Any] = {"major": major, "minor": minor, "patch": patch}
        if self.core.api_version >= 3:
            body["prerelease"] = None
        return json_response(body)

    async def about(self, request: web.Request) -> web.Response:
        self.core.auth(request, "server.about")
        version = "v" + ".".join(map(str, self.core.server_version))
        return json_response(
            {
                "version": version,
                "versionUrl": f"https://github.com/immich-app/immich/releases/tag/{version}",
                "licensed": False,
                "nodejs": "v24.14.1",
                "exiftool": "13.45",
                "ffmpeg": "7.1.1-6",
                "libvips": "8.17.3",
                "imagemagick": "7.1.2-3",
                "repository": "immich-app/immich",
                "repositoryUrl": "https://github.com/immich-app/immich",
            }
        )

    async def config(self, request: web.Request) -> web.Response:
        return json_response(SERVER_CONFIG_V3 if self.core.api_version >= 3 else SERVER_CONFIG)

    async def features(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "smartSearch": False,
                "facialRecognition": False,
                "duplicateDetection": False,
                "map": False,
                "reverseGeocoding": False,
                "importFaces": False,
                "sidecar": True,
                "search": True,
                "trash": True,
                "oauth": False,
                "oauthAutoLaunch": False,
                "ocr": False,
                "passwordLogin": True,
                "configFile": self.core.api_version >= 3,
                "email": False,
                **({"realtimeTranscoding": False} if self.core.api_version >= 3 else {}),
            }
        )

    async def media_types(self, request: web.Request) -> web.Response:
        return json_response(self.core.types)

    async def users_me(self, request: web.Request) -> web.Response:
        key = self.core.auth(request, "user.read")
        if key.admin:
            return json_response(
                USER
            )  # the admin (the 2.7.5 capture's user), who owns nothing here
        used = sum(a.size for a in self.core.state.owned(key.user_id))  # trashed ones count too
        return json_response(self.core.views.user_json(key.user_id, used))

    # -- not in the real server ---------------------------------------------------------------
    async def testserver_stats(self, request: web.Request) -> web.Response:
        return json_response(self.core.state.stats.snapshot())

    async def testserver_state(self, request: web.Request) -> web.Response:
        """Everything the server holds, for tests to assert on: assets (their visibility and
        the values of their tags), albums (their members), tags."""
        state = self.core.state
        return json_response(
            {
                "assets": [
                    {
                        "id": a.id,
                        "originalFileName": a.original_file_name,
                        "checksum": a.checksum,
                        "size": a.size,
                        "isTrashed": a.is_trashed,
                        "visibility": a.visibility,
                        "fileCreatedAt": a.file_created_at,
                        "tags": sorted(state.tags[t].value for t in a.tag_ids if t in state.tags),
                    }
                    for a in state.assets.values()
                ],
                "albums": [
                    {"id": al.id, "albumName": al.name, "assetIds": al.asset_ids}
                    for al in state.albums.values()
                ],
                "tags": sorted(t.value for t in state.tags.values()),
            }
        )
