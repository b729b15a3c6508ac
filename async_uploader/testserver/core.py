"""What every route of the emulated server shares: its state, version and user, the link's
shaping and the fault plan, authentication, reading a JSON body, checking ids, and answering an
error in the version's shape. Each area's routes (``routes/``) are given one ``Core``; nothing
here imports from the rest of ``async_uploader``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import zod
from .body import BodyReader
from .data import (
    MEDIA_TYPES,
    MEDIA_TYPES_V3,
    OWNER,
    OWNER_V3,
    QUEUE_LIST_V2,
    QUEUES_V2,
    QUEUES_V3,
    STATUS_REASONS,
    USER,
    USER_ID,
    USER_ID_V3,
    USER_V3,
    VERSIONS,
)
from .hostile import Hostile
from .jobs import JobQueues
from .records import Album, ApiKey, Asset, Stats
from .shapes import (
    MAX_JSON_BYTES,
    UUID_RE,
    ApiError,
    error_body,
    invalid,
    json_response,
    new_cid,
    v8_json_error,
)
from .shaping import Fault, FaultPlan, Processing, ScriptedFault, Shaping, TokenBucket
from .state import ServerState
from .views import Shape, Views


class Core:
    """One emulated server's state, shaping and faults, and what its routes share."""

    def __init__(
        self,
        state: ServerState,
        api_version: int = 3,
        shaping: Shaping | None = None,
        seed: int | None = None,
        server_version: tuple[int, int, int] | None = None,
    ) -> None:
        if api_version not in VERSIONS:
            raise ValueError(f"api_version must be one of {sorted(VERSIONS)}")
        if server_version is not None and server_version[0] != api_version:
            raise ValueError(
                f"server version {'.'.join(map(str, server_version))} is not a {api_version}.x"
            )
        self.state = state
        self.api_version = api_version
        self.server_version = server_version or VERSIONS[api_version]
        self.types = MEDIA_TYPES_V3 if api_version >= 3 else MEDIA_TYPES
        self.image_extensions = frozenset(self.types["image"])
        v3 = api_version >= 3
        self.user, self.owner = (USER_V3, OWNER_V3) if v3 else (USER, OWNER)
        self.user_id = USER_ID_V3 if v3 else USER_ID
        self.queues = QUEUES_V3 if v3 else QUEUES_V2  # as /api/jobs lists them
        self.queue_list = QUEUES_V3 if v3 else QUEUE_LIST_V2  # as /api/queues does
        self.faults = FaultPlan(seed)
        self._idle_since: dict[int, float] = {}  # connection -> when its last answer went out
        self.shaping = Shaping()
        self.bucket = TokenBucket(0)
        self.processing = Processing()  # a small server's places (Shaping.max_processing)
        self.set_shaping(shaping or Shaping())
        self.views = Views(state, api_version, self.user_id, self.user, self.owner)
        self.jobs: JobQueues | None = None  # background work per asset, when it costs
        self.hostile = Hostile(state.stats, self.error_response)

    @property
    def stats(self) -> Stats:
        return self.state.stats

    def asset_json(self, asset: Asset, shape: Shape = Shape.FULL) -> dict[str, Any]:
        return self.views.asset_json(asset, shape)

    def album_json(self, album: Album, with_assets: bool, created: bool = False) -> dict[str, Any]:
        return self.views.album_json(album, with_assets, created)

    def set_shaping(self, shaping: Shaping) -> None:
        self.shaping = shaping
        self.bucket.rate = shaping.bandwidth_kbps * 1000 / 8

    def script(self, fault: ScriptedFault) -> None:
        self.faults.scripted.append(fault)

    def error_response(self, status: int, message: str | list[str]) -> web.Response:
        """An error in this server's own shape (for answers made outside the routes)."""
        return self.error(ApiError(status, message), new_cid())

    def error(self, exc: ApiError, cid: str) -> web.Response:
        body = error_body(exc.status, exc.message, cid, self.api_version >= 3, exc.issues)
        response = json_response(body, exc.status)
        response.headers.update(exc.headers)
        return response

    def cid_header(self) -> str:
        # 3.x renamed the correlation-id header (V3-DIFFERENCES.md, 1).
        return "X-Correlation-ID" if self.api_version >= 3 else "x-immich-cid"

    # -- helpers -----------------------------------------------------------------------------
    def auth(self, request: web.Request, permission: str | None) -> ApiKey:
        authorization = request.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            session = self.state.sessions.get(authorization[7:].strip())
            if session is None:
                raise ApiError(401, "Invalid user token")
            return session
        secret = request.headers.get("x-api-key") or request.query.get("apiKey")
        if not secret:
            raise ApiError(401, "Authentication required")
        key = self.state.keys.get(secret)
        if key is None:
            raise ApiError(401, "Invalid API key")
        if permission and not key.allows(permission):
            raise ApiError(403, f"Missing required permission: {permission}")
        return key

    def draw(self, request: web.Request, route: str) -> tuple[Fault, float]:
        scripted = self.faults.take_scripted(route)
        if scripted is not None:
            self.state.stats.faults[f"status-{scripted.status}"] += 1
            headers = {}
            if scripted.retry_after is not None:
                headers["Retry-After"] = f"{scripted.retry_after:g}"
            message = scripted.message or STATUS_REASONS.get(scripted.status, "Error")
            raise ApiError(scripted.status, message, headers)
        fault, where = self.faults.draw(self.shaping, route)
        if fault is Fault.FAIL:
            self.state.stats.faults["fail"] += 1
            raise ApiError(500, "Internal server error")
        return fault, where

    async def read_json(self, request: web.Request, route: str) -> Any:
        fault, where = self.draw(request, route)
        reader = BodyReader(self, request, fault, where)
        data = bytearray()
        while chunk := await reader.read():
            data += chunk
            if len(data) > MAX_JSON_BYTES:
                raise ApiError(413, "request entity too large")
        try:
            return json.loads(data or b"{}")
        except json.JSONDecodeError as exc:
            if self.api_version >= 3:
                raise ApiError(400, v8_json_error(exc)) from None
            raise ApiError(400, f"Unexpected token in JSON at position {exc.pos}") from None
        except UnicodeDecodeError:
            raise ApiError(400, "Unexpected token in JSON at position 0") from None

    @staticmethod
    def path_uuid(value: str) -> None:
        if not UUID_RE.match(value):
            raise invalid(["id must be a UUID"], [zod.bad_uuid(["id"])])

    def album_or_400(self, album_id: str, access: str, owner: str) -> Album:
        self.path_uuid(album_id)
        album = self.state.albums.get(album_id)
        if album is None or album.owner_id != owner:
            raise ApiError(400, f"Not found or no {access} access")
        return album

    def readable(self, asset_id: str, owner: str) -> Asset | None:
        """The asset if that user's key may use it: its own, and not locked (a locked asset
        needs a PIN-unlocked session, which no API key has: golden 48k, 49c)."""
        asset = self.state.assets.get(asset_id)
        if asset is None or asset.owner_id != owner or asset.visibility == "locked":
            return None
        return asset

    def tag_and_below(self, tag_id: Any) -> set[str]:
        """A tag's id and those of every tag under it (the server's tag_closure)."""
        ids = {tag_id} if isinstance(tag_id, str) else set()
        grown = True
        while grown:
            below = {t.id for t in self.state.tags.values() if t.parent_id in ids}
            grown = not below <= ids
            ids |= below
        return ids

    @staticmethod
    def uuid_list_issues(ids: Any, field: str) -> list[dict[str, Any]]:
        if not isinstance(ids, list):
            return [zod.invalid_type([field], "array", ids)]
        return [
            zod.bad_uuid([field, i])
            for i, v in enumerate(ids)
            if not (isinstance(v, str) and UUID_RE.match(v))
        ]

    def ids(self, body: Any, field: str) -> list[str]:
        ids = body.get(field) if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise invalid(
                [f"each value in {field} must be a UUID", f"{field} must be an array"],
                self.uuid_list_issues(ids, field),
            )
        if not all(isinstance(i, str) and UUID_RE.match(i) for i in ids):
            raise invalid(
                [f"each value in {field} must be a UUID"], self.uuid_list_issues(ids, field)
            )
        return ids
