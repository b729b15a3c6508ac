"""The emulated Immich HTTP API (aiohttp.web): the routes a folder uploader touches.

Status codes, bodies (key order included), error shapes and the odd corners (checksum header trusted
before the body, field order deciding the type check, idle sockets closed at 6 s) follow the real
Immich 2.7.5 server as recorded in shared/immich/golden; ``api_version=3`` applies what is known of
Immich 3 (no deviceAssetId/deviceId, zoned dates, albums without embedded assets).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from . import zod
from .data import (
    MEDIA_TYPES,
    MEDIA_TYPES_V3,
    MIME_TYPES,
    OWNER,
    OWNER_V3,
    PERMISSION_NAMES,
    QUEUES_V2,
    QUEUES_V3,
    SERVER_CONFIG,
    SERVER_CONFIG_V3,
    SIDECAR_EXTENSIONS,
    STATUS_REASONS,
    USER,
    USER_ID,
    USER_ID_V3,
    USER_V3,
    VERSIONS,
    VIDEO_EXTENSIONS,
)
from .hostile import Hostile, route_key
from .multipart import MultipartError, MultipartStream
from .shaping import Fault, FaultPlan, ScriptedFault, Shaping, TokenBucket
from .state import Album, ApiKey, Asset, ServerState, decode_checksum, iso_ms, now_iso

MAX_FIELD_BYTES = 1024 * 1024  # multer's default fieldSize
MAX_JSON_BYTES = 10 * 1024 * 1024  # the server's body-parser limit
MAX_SIDECAR_BYTES = 5 * 1024 * 1024
READ_CHUNK = 64 * 1024
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
ZONED_DT_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"
)  # what Immich 3's zod validator takes

APP_KEY: web.AppKey[Emulator] = web.AppKey("emulator")
CID_KEY = web.RequestKey("cid", str) if hasattr(web, "RequestKey") else "cid"


class ApiError(Exception):
    """An error answered in the server's shape: v2 {message, error, statusCode, correlationId},
    v3 {message}; a validation error carries its v3 zod ``issues`` beside its v2 sentences."""

    def __init__(
        self,
        status: int,
        message: str | list[str],
        headers: dict[str, str] | None = None,
        issues: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.issues = issues


def invalid(v2: list[str], v3: list[dict[str, Any]]) -> ApiError:
    """A 400 for a request that fails validation, in each version's words."""
    return ApiError(400, v2, issues=v3)


class ConnectionDropped(Exception):
    """The emulator cut the connection on purpose (reset fault)."""


def _json(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (a client's "\udcff") is written as that escape, as Node's well-formed
    # JSON.stringify does: inside a JSON string, backslashreplace produces exactly it.
    return web.Response(
        body=body.encode("utf-8", "backslashreplace"),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def _error_body(
    status: int,
    message: str | list[str],
    cid: str,
    v3: bool = False,
    issues: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if v3:  # global-exception.filter.ts of 3.x: only the message (and zod's issues)
        if issues is not None:
            return {"message": "Validation failed", "errors": issues}
        return {"message": message}
    reason = STATUS_REASONS.get(status, "Error")
    return {"message": message, "error": reason, "statusCode": status, "correlationId": cid}


def _cid() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


class BodyReader:
    """Reads a request body through the shared bandwidth cap, counting bytes and injecting faults."""

    def __init__(
        self,
        emulator: Emulator,
        request: web.Request,
        fault: Fault = Fault.NONE,
        where: float = 0.5,
        upload: bool = False,
    ) -> None:
        self.emulator = emulator
        self.request = request
        self.fault = fault
        self.upload = upload
        length = request.content_length
        # Chunked bodies have no length: act after the first 64 KiB then.
        self.trigger_at = int((length or 2 * READ_CHUNK) * where)
        self.read_bytes = 0

    async def read(self) -> bytes:
        chunk = await self.request.content.read(READ_CHUNK)
        if not chunk:
            return b""
        await self.emulator.bucket.consume(len(chunk))
        self.read_bytes += len(chunk)
        stats = self.emulator.state.stats
        stats.body_bytes += len(chunk)
        if self.upload:
            stats.upload_body_bytes += len(chunk)
        if self.fault is not Fault.NONE and self.read_bytes >= self.trigger_at:
            fault, self.fault = self.fault, Fault.NONE
            stats.faults[fault.value] += 1
            if fault is Fault.RESET:
                transport = self.request.transport
                if transport is not None:
                    transport.abort()
                raise ConnectionDropped()
            if fault is Fault.STALL:
                await asyncio.sleep(self.emulator.shaping.stall_seconds)
        return chunk

    async def drain(self, idle_timeout: float = 30.0) -> None:
        """Read and discard the rest, as the real server keeps reading after an early answer."""
        try:
            while await asyncio.wait_for(self.read(), idle_timeout):
                pass
        except (TimeoutError, ConnectionError, ConnectionDropped):
            pass


def _tz_name(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


_XMP_DATE_RE = re.compile(
    r"(?:exif:DateTimeOriginal|xmp:CreateDate|photoshop:DateCreated)"
    r"""(?:\s*=\s*["']([^"']+)["']|>([^<]+)<)"""
)


def _v8_json_error(exc: json.JSONDecodeError) -> str:
    """What Node 24's JSON.parse says of the same mistake (golden-v3 35b)."""
    where = f"in JSON at position {exc.pos} (line {exc.lineno} column {exc.colno})"
    if exc.msg.startswith("Expecting property name"):
        return f"Expected property name or '}}' {where}"
    if exc.msg == "Expecting ',' delimiter":
        return f"Expected ',' or '}}' after property value {where}"
    if exc.msg == "Expecting ':' delimiter":
        return f"Expected ':' after property name {where}"
    if exc.pos >= len(exc.doc):
        return "Unexpected end of JSON input"
    snippet = exc.doc[max(0, exc.pos - 10) : exc.pos + 10]
    return f"Unexpected token '{exc.doc[exc.pos]}', \"{snippet}\" is not valid JSON"


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "createdAt": key.created_at,
        "updatedAt": key.created_at,
        "permissions": key.permissions,
    }


def _pg_time(iso: str) -> str:
    """A stored time as PostgreSQL prints a timestamptz: +00:00, no fraction when it is zero."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "+00:00"


def _png_size(head: bytes) -> tuple[int | None, int | None]:
    """(width, height) from a PNG's IHDR, as the thumbnail job would learn them."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None, None


def _duration_issue(text: str) -> dict[str, Any] | None:
    """What zod's coerce.number().int().min(0) says of a duration field, as JavaScript's
    Number() reads it ("" is 0, "0:00:00.00000" is NaN)."""
    try:
        value = float(text.strip()) if text.strip() else 0.0
    except ValueError:
        return zod.not_a_number(["duration"])
    if value != value or value in (float("inf"), float("-inf")):
        return zod.not_a_number(["duration"])
    if not value.is_integer():
        return zod.not_an_int(["duration"])
    if value < 0:
        return zod.too_small(["duration"], 0)
    return None


def sidecar_date(xmp: str) -> datetime | None:
    """The capture time an XMP sidecar carries (naive when it has no offset)."""
    m = _XMP_DATE_RE.search(xmp)
    if not m:
        return None
    text = (m.group(1) or m.group(2)).strip()
    # EXIF style "2024:05:01 12:00:00" as well as ISO 8601.
    text = re.sub(r"^(\d{4}):(\d{2}):(\d{2})[ T]", r"\1-\2-\3T", text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Emulator:
    """One emulated server: its state, its shaping, its routes."""

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
            raise ValueError(f"server version {'.'.join(map(str, server_version))} is not a {api_version}.x")  # fmt: skip
        self.state = state
        self.api_version = api_version
        self.server_version = server_version or VERSIONS[api_version]
        self.types = MEDIA_TYPES_V3 if api_version >= 3 else MEDIA_TYPES
        self.image_extensions = frozenset(self.types["image"])
        v3 = api_version >= 3
        self.user, self.owner = (USER_V3, OWNER_V3) if v3 else (USER, OWNER)
        self.user_id = USER_ID_V3 if v3 else USER_ID
        self.queues = QUEUES_V3 if v3 else QUEUES_V2
        self.faults = FaultPlan(seed)
        self._idle_since: dict[int, float] = {}  # connection -> when its last answer went out
        self.shaping = Shaping()
        self.bucket = TokenBucket(0)
        self.set_shaping(shaping or Shaping())
        self.hostile = Hostile(self)

    def set_shaping(self, shaping: Shaping) -> None:
        self.shaping = shaping
        self.bucket.rate = shaping.bandwidth_kbps * 1000 / 8

    def script(self, fault: ScriptedFault) -> None:
        self.faults.scripted.append(fault)

    def error_response(self, status: int, message: str | list[str]) -> web.Response:
        """An error in this server's own shape (for answers made outside the routes)."""
        return self._error(ApiError(status, message), _cid())

    def _error(self, exc: ApiError, cid: str) -> web.Response:
        body = _error_body(exc.status, exc.message, cid, self.api_version >= 3, exc.issues)
        response = _json(body, exc.status)
        response.headers.update(exc.headers)
        return response

    def _cid_header(self) -> str:
        # 3.x renamed the correlation-id header (V3-DIFFERENCES.md, 1).
        return "X-Correlation-ID" if self.api_version >= 3 else "x-immich-cid"

    # -- application -----------------------------------------------------------------------
    def make_app(self) -> web.Application:
        # The hostile behaviours wrap everything, so the emulator's own paths stay as they are.
        middlewares = [self.hostile.middleware, self._middleware]
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
        cid = request.headers.get(self._cid_header()) or _cid()
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

    def _draw(self, request: web.Request, route: str) -> tuple[Fault, float]:
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
        fault, where = self._draw(request, route)
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
                raise ApiError(400, _v8_json_error(exc)) from None
            raise ApiError(400, f"Unexpected token in JSON at position {exc.pos}") from None
        except UnicodeDecodeError:
            raise ApiError(400, "Unexpected token in JSON at position 0") from None

    def _owner_fields(self) -> dict[str, Any]:
        return {} if self.api_version >= 3 else {"ownerId": self.user_id, "owner": self.owner}

    def asset_json(self, asset: Asset, in_search: bool = False) -> dict[str, Any]:
        """An asset as GET /api/assets/{id} shows it (golden 22 and golden-v3 22); Immich 3's
        search results leave out owner, exifInfo, tags and stack (golden-v3 34)."""
        if self.api_version >= 3:
            return self._asset_json_v3(asset, in_search)
        out: dict[str, Any] = {"id": asset.id, "createdAt": asset.created_at}
        out["deviceAssetId"] = asset.device_asset_id
        out.update({"ownerId": self.user_id, "owner": self.owner})
        out["deviceId"] = asset.device_id
        out.update(
            {
                **self._asset_core(asset, asset.id),
                "duration": "0:00:00.00000",
                "exifInfo": {
                    "dateTimeOriginal": asset.file_created_at.replace("Z", "+00:00"),
                    "timeZone": asset.time_zone,
                    "fileSizeInByte": asset.size,
                },
                "livePhotoVideoId": None,
                "tags": [],
                "people": [],
                "checksum": asset.checksum_b64,
                "stack": None,
                "isOffline": False,
                "hasMetadata": True,
                "duplicateId": None,
                "resized": False,
                "width": None,
                "height": None,
                "isEdited": False,
            }
        )
        return out

    def _asset_core(self, asset: Asset, file_id: str) -> dict[str, Any]:
        """The keys both versions show alike, in the servers' order (from libraryId on)."""
        return {
            "libraryId": None,
            "type": asset.type,
            "originalPath": f"/data/upload/{self.user_id}/{file_id[:2]}/{file_id[2:4]}/"
            f"{file_id}{Path(asset.original_file_name).suffix.lower()}",
            "originalFileName": asset.original_file_name,
            "originalMimeType": asset.mime_type,
            "thumbhash": None,  # made from the pixels by the thumbnail job: not emulated
            "fileCreatedAt": asset.file_created_at,
            "fileModifiedAt": asset.file_modified_at,
            "localDateTime": asset.local_date_time,
            "updatedAt": asset.updated_at,
            "isFavorite": asset.is_favorite,
            "isArchived": asset.visibility == "archive",
            "isTrashed": asset.is_trashed,
            "visibility": asset.visibility,
        }

    def _asset_json_v3(self, asset: Asset, in_search: bool) -> dict[str, Any]:
        file_id = asset.file_id or asset.id
        out: dict[str, Any] = {
            "id": asset.id,
            "createdAt": asset.created_at,
            "ownerId": self.user_id,
        }
        if not in_search:
            out["owner"] = self.owner
        out.update(
            {
                **self._asset_core(asset, file_id),
                "duration": None,  # metadata extraction sets it to null for a still image
            }
        )
        if not in_search:
            out["exifInfo"] = {
                "make": None, "model": None,
                "exifImageWidth": asset.width, "exifImageHeight": asset.height,
                "fileSizeInByte": asset.size, "orientation": None,
                "dateTimeOriginal": _pg_time(asset.file_created_at),
                "modifyDate": _pg_time(asset.file_modified_at),
                "timeZone": asset.time_zone, "lensModel": None, "fNumber": None,
                "focalLength": None, "iso": None, "exposureTime": None, "latitude": None,
                "longitude": None, "city": None, "state": None, "country": None,
                "description": "", "projectionType": None, "rating": None,
            }  # fmt: skip
        out["livePhotoVideoId"] = None
        if not in_search:
            out["tags"] = []
        out.update({"people": [], "checksum": asset.checksum_b64})
        if not in_search:
            out["stack"] = None
        out.update(
            {
                "isOffline": False,
                "hasMetadata": True,
                "duplicateId": None,
                "resized": True,  # the thumbnail job ran, whether or not it could decode it
                "width": asset.width,
                "height": asset.height,
                "isEdited": False,
            }
        )
        return out

    def album_json(self, album: Album, with_assets: bool) -> dict[str, Any]:
        assets = [self.state.assets[a] for a in album.asset_ids if a in self.state.assets]
        live = [a for a in assets if not a.is_trashed]
        out: dict[str, Any] = {
            "albumName": album.name,
            "description": album.description,
            "albumThumbnailAssetId": live[0].id if live else None,
            "createdAt": album.created_at,
            "updatedAt": album.updated_at,
            "id": album.id,
            **self._owner_fields(),
            "albumUsers": [{"user": self.owner, "role": "owner"}] if self.api_version >= 3 else [],
            "shared": False,
            "hasSharedLink": False,
        }
        if live:
            days = sorted(a.local_date_time[:10] for a in live)
            out["startDate"] = f"{days[0]}T00:00:00.000Z"
            out["endDate"] = f"{days[-1]}T00:00:00.000Z"
        if self.api_version < 3:
            out["assets"] = [self.asset_json(a) for a in live] if with_assets else []
        out.update({"assetCount": len(live), "isActivityEnabled": True, "order": "desc"})
        if live:
            out["lastModifiedAssetTimestamp"] = max(a.updated_at for a in live)
        return out

    @staticmethod
    def _path_uuid(value: str) -> None:
        if not UUID_RE.match(value):
            raise invalid(["id must be a UUID"], [zod.bad_uuid(["id"])])

    def _album_or_400(self, album_id: str, access: str) -> Album:
        self._path_uuid(album_id)
        album = self.state.albums.get(album_id)
        if album is None:
            raise ApiError(400, f"Not found or no {access} access")
        return album

    # -- server ------------------------------------------------------------------------------
    async def well_known(self, request: web.Request) -> web.Response:
        return _json({"api": {"endpoint": "/api"}})

    async def ping(self, request: web.Request) -> web.Response:
        return _json({"res": "pong"})

    async def version(self, request: web.Request) -> web.Response:
        major, minor, patch = self.server_version
        body: dict[str, Any] = {"major": major, "minor": minor, "patch": patch}
        if self.api_version >= 3:
            body["prerelease"] = None
        return _json(body)

    async def about(self, request: web.Request) -> web.Response:
        self.auth(request, "server.about")
        version = "v" + ".".join(map(str, self.server_version))
        return _json(
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
        return _json(SERVER_CONFIG_V3 if self.api_version >= 3 else SERVER_CONFIG)

    async def features(self, request: web.Request) -> web.Response:
        return _json(
            {
                "smartSearch": False, "facialRecognition": False, "duplicateDetection": False,
                "map": False, "reverseGeocoding": False, "importFaces": False, "sidecar": True,
                "search": True, "trash": True, "oauth": False, "oauthAutoLaunch": False,
                "ocr": False, "passwordLogin": True, "configFile": self.api_version >= 3,
                "email": False, **({"realtimeTranscoding": False} if self.api_version >= 3 else {}),
            }
        )  # fmt: skip

    async def media_types(self, request: web.Request) -> web.Response:
        return _json(self.types)

    async def users_me(self, request: web.Request) -> web.Response:
        key = self.auth(request, "user.read")
        if key.admin:
            return _json(USER)  # the admin (the 2.7.5 capture's user), who owns nothing here
        used = sum(a.size for a in self.state.assets.values())  # trashed ones count too
        return _json({**self.user, "quotaUsageInBytes": used})

    # -- queues and jobs (admin only) ---------------------------------------------------------
    def _admin(self, request: web.Request, permission: str) -> None:
        key = self.auth(request, permission)
        if not key.admin:
            raise ApiError(403, "Forbidden")

    def _queue_name(self, request: web.Request) -> str:
        name = request.match_info["name"]
        if name not in self.queues:
            raise invalid(
                [f"name must be one of the following values: {', '.join(self.queues)}"],
                [zod.not_one_of(["name"], list(self.queues))],
            )
        return name

    @staticmethod
    def _counts() -> dict[str, int]:
        return {"active": 0, "completed": 0, "failed": 0, "delayed": 0, "waiting": 0, "paused": 0}

    def _queue_json(self, name: str) -> dict[str, Any]:
        return {"name": name, "isPaused": name in self.state.paused_queues, "statistics": self._counts()}  # fmt: skip

    def _job_json(self, name: str) -> dict[str, Any]:
        status = {"isPaused": name in self.state.paused_queues, "isActive": False}
        return {"queueStatus": status, "jobCounts": self._counts()}

    async def queues_list(self, request: web.Request) -> web.Response:
        """GET /api/queues (3.x, golden-v3 45)."""
        self._admin(request, "queue.read")
        return _json([self._queue_json(q) for q in self.queues])

    async def queue_get(self, request: web.Request) -> web.Response:
        self._admin(request, "queue.read")
        return _json(self._queue_json(self._queue_name(request)))

    async def queue_update(self, request: web.Request) -> web.Response:
        """PUT /api/queues/{name} {"isPaused": bool} (3.x, golden-v3 45b, 45d, 45e)."""
        self._admin(request, "queue.update")
        name = self._queue_name(request)
        body = await self.read_json(request, "queue")
        paused = body.get("isPaused") if isinstance(body, dict) else None
        if paused is not None:
            if not isinstance(paused, bool):
                raise invalid(["isPaused must be a boolean value"], [zod.invalid_type(["isPaused"], "boolean", paused)])  # fmt: skip
            self.state.pause_queue(name, paused)
        return _json(self._queue_json(name))

    async def jobs_list(self, request: web.Request) -> web.Response:
        """GET /api/jobs (2.x; kept in 3.x as a legacy route, golden 45, golden-v3 45f)."""
        self._admin(request, "job.read")
        return _json({q: self._job_json(q) for q in self.queues})

    async def job_command(self, request: web.Request) -> web.Response:
        """PUT /api/jobs/{name} {"command": "pause"|"resume", "force": bool} (2.x, golden 45b)."""
        self._admin(request, "job.create")
        name = self._queue_name(request)
        body = await self.read_json(request, "queue")
        command = body.get("command") if isinstance(body, dict) else None
        commands = ["start", "pause", "resume", "empty", "clear-failed"]
        if command not in commands:
            raise invalid([f"command must be one of the following values: {', '.join(commands)}"], [zod.not_one_of(["command"], commands)])  # fmt: skip
        if command in ("pause", "resume"):
            self.state.pause_queue(name, command == "pause")
        return _json(self._job_json(name))

    async def api_keys_me(self, request: web.Request) -> web.Response:
        key = self.auth(request, "")
        if key.is_session:
            raise ApiError(403, "Not authenticated with an API Key")
        return _json(_key_json(key))

    async def api_key_create(self, request: web.Request) -> web.Response:
        """POST /api/api-keys: how users make (limited) keys (golden-v3 00c, 36a)."""
        self.auth(request, "apiKey.create")
        body = await self.read_json(request, "api-key-create")
        body = body if isinstance(body, dict) else {}
        perms = body.get("permissions")
        if not isinstance(perms, list) or not all(isinstance(p, str) and p in PERMISSION_NAMES for p in perms):  # fmt: skip
            v2 = ["each value in permissions must be one of the following values: all, ..."]
            issues = (
                [zod.invalid_type(["permissions"], "array", perms)]
                if not isinstance(perms, list)
                else [zod.not_one_of(["permissions", i], sorted(PERMISSION_NAMES))
                      for i, p in enumerate(perms) if not (isinstance(p, str) and p in PERMISSION_NAMES)]
            )  # fmt: skip
            raise invalid(v2, issues)
        name = str(body["name"]) if isinstance(body.get("name"), str) else "API Key"
        key = self.state.create_api_key(perms, name=name)
        return _json({"secret": key.secret, "apiKey": _key_json(key)}, 201)

    async def login(self, request: web.Request) -> web.Response:
        """POST /api/auth/login as the emulated user (any non-empty password: it is a test
        server), with the real server's cookies (golden-v3 00b)."""
        body = await self.read_json(request, "login")
        body = body if isinstance(body, dict) else {}
        if body.get("email") != self.user["email"] or not body.get("password"):
            raise ApiError(401, "Incorrect email or password")
        token = self.state.create_session()
        response = _json(
            {
                "accessToken": token,
                "userId": self.user_id,
                "userEmail": self.user["email"],
                "name": self.user["name"],
                "isAdmin": self.user["isAdmin"],
                "profileImagePath": self.user["profileImagePath"],
                "shouldChangePassword": self.user["shouldChangePassword"],
                "isOnboarded": False,
            },
            201,
        )
        age = 34_560_000  # 400 days, as the real server sets them
        for name, value, http_only in (("immich_access_token", token, True), ("immich_auth_type", "password", True), ("immich_is_authenticated", "true", False)):  # fmt: skip
            response.set_cookie(name, value, max_age=age, path="/", httponly=http_only, samesite="Lax")  # fmt: skip
        return response

    # -- albums ------------------------------------------------------------------------------
    async def albums_list(self, request: web.Request) -> web.Response:
        self.auth(request, "album.read")
        albums = list(self.state.albums.values())
        asset_id = request.query.get("assetId")
        shared = request.query.get("shared")
        if self.api_version >= 3:
            # 3.x: name (exact, case-sensitive), id, isOwned, isShared; "shared" is gone
            # (golden-v3 20b-20e). Every album here is the user's own, and none is shared.
            shared = None
            if "name" in request.query:
                albums = [a for a in albums if a.name == request.query["name"]]
            if "id" in request.query:
                albums = [a for a in albums if a.id == request.query["id"]]
            if request.query.get("isOwned") == "false" or request.query.get("isShared") == "true":
                albums = []
        if asset_id is not None:
            if not UUID_RE.match(asset_id):
                raise invalid(["assetId must be a UUID"], [zod.bad_uuid(["assetId"])])
            albums = [a for a in albums if asset_id in a.asset_ids]
        elif shared == "true":
            albums = []  # nothing is ever shared on the emulated server
        albums.sort(key=lambda a: a.created_at, reverse=True)  # newest first, as the real one
        return _json([self.album_json(a, with_assets=False) for a in albums])

    async def album_create(self, request: web.Request) -> web.Response:
        self.auth(request, "album.create")
        body = await self.read_json(request, "album-create")
        errors: list[str] = []
        issues: list[dict[str, Any]] = []
        name = body.get("albumName") if isinstance(body, dict) else None
        if not isinstance(name, str):
            errors.append("albumName must be a string")
            issues.append(zod.invalid_type(["albumName"], "string", name))
        asset_ids = body.get("assetIds", []) if isinstance(body, dict) else []
        if not isinstance(asset_ids, list) or not all(
            isinstance(i, str) and UUID_RE.match(i) for i in asset_ids
        ):
            errors.append("each value in assetIds must be a UUID")
            issues += self._uuid_list_issues(asset_ids, "assetIds")
        if errors:
            raise invalid(errors, issues)
        assert isinstance(name, str)
        album = self.state.create_album(name, str(body.get("description") or ""))
        # Ids the user cannot access are dropped silently.
        known = list(dict.fromkeys(i for i in asset_ids if i in self.state.assets))
        self.state.add_to_album(album, known)
        return _json(self.album_json(album, with_assets=True), 201)

    async def album_get(self, request: web.Request) -> web.Response:
        self.auth(request, "album.read")
        album = self._album_or_400(request.match_info["id"], "album.read")
        without = request.query.get("withoutAssets") == "true"
        return _json(self.album_json(album, with_assets=not without))

    @staticmethod
    def _uuid_list_issues(ids: Any, field: str) -> list[dict[str, Any]]:
        if not isinstance(ids, list):
            return [zod.invalid_type([field], "array", ids)]
        return [
            zod.bad_uuid([field, i])
            for i, v in enumerate(ids)
            if not (isinstance(v, str) and UUID_RE.match(v))
        ]

    def _ids(self, body: Any, field: str) -> list[str]:
        ids = body.get(field) if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise invalid(
                [f"each value in {field} must be a UUID", f"{field} must be an array"],
                self._uuid_list_issues(ids, field),
            )
        if not all(isinstance(i, str) and UUID_RE.match(i) for i in ids):
            raise invalid([f"each value in {field} must be a UUID"], self._uuid_list_issues(ids, field))  # fmt: skip
        return ids

    async def _album_and_ids(
        self, request: web.Request, permission: str, route: str
    ) -> tuple[Album, list[str]]:
        """The album of the path and the ids of the body, of an album's assets route."""
        self.auth(request, permission)
        album_id = request.match_info["id"]
        self._path_uuid(album_id)
        ids = self._ids(await self.read_json(request, route), "ids")
        album = self.state.albums.get(album_id)
        if album is None:
            raise ApiError(400, "Album not found")
        return album, ids

    async def album_add(self, request: web.Request) -> web.Response:
        album, ids = await self._album_and_ids(request, "albumAsset.create", "album-add")
        present = set(album.asset_ids)
        results: list[dict[str, Any]] = []
        added: list[str] = []
        for asset_id in ids:
            if asset_id in present:
                results.append({"id": asset_id, "success": False, "error": "duplicate"})
            elif asset_id not in self.state.assets:
                results.append({"id": asset_id, "success": False, "error": "no_permission"})
            else:
                present.add(asset_id)
                added.append(asset_id)
                results.append({"id": asset_id, "success": True})
        self.state.add_to_album(album, added)
        return _json(results)

    async def album_remove(self, request: web.Request) -> web.Response:
        """DELETE /api/albums/{id}/assets: a result per id, "not_found" for one not in it
        (golden-v3 46b)."""
        album, ids = await self._album_and_ids(request, "albumAsset.delete", "album-remove")
        present = set(album.asset_ids)
        results: list[dict[str, Any]] = []
        removed: list[str] = []
        for asset_id in ids:
            if asset_id in present:
                present.discard(asset_id)
                removed.append(asset_id)
                results.append({"id": asset_id, "success": True})
            else:
                results.append({"id": asset_id, "success": False, "error": "not_found"})
        self.state.remove_from_album(album, removed)
        return _json(results)

    async def albums_bulk_add(self, request: web.Request) -> web.Response:
        self.auth(request, "albumAsset.create")
        body = await self.read_json(request, "album-add")
        album_ids = self._ids(body, "albumIds")
        asset_ids = self._ids(body, "assetIds")
        albums = [self.state.albums[a] for a in album_ids if a in self.state.albums]
        assets = [a for a in dict.fromkeys(asset_ids) if a in self.state.assets]
        if not albums or not assets:
            return _json({"success": False, "error": "no_permission"})
        any_added = False
        for album in albums:
            new = [a for a in assets if a not in set(album.asset_ids)]
            self.state.add_to_album(album, new)
            any_added = any_added or bool(new)
        if not any_added:
            return _json({"success": False, "error": "duplicate"})
        return _json({"success": True})

    # -- assets ------------------------------------------------------------------------------
    async def bulk_check(self, request: web.Request) -> web.Response:
        self.auth(request, "asset.upload")
        body = await self.read_json(request, "bulk-check")
        items = body.get("assets") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise invalid(["assets must be an array"], [zod.invalid_type(["assets"], "array", items)])  # fmt: skip
        errors, issues = [], []
        for i, item in enumerate(items):
            fields = item if isinstance(item, dict) else {}
            for name in ("id", "checksum"):
                if not isinstance(fields.get(name), str):
                    errors.append(f"assets.{i}.{name} must be a string")
                    issues.append(zod.invalid_type(["assets", i, name], "string", fields.get(name)))  # fmt: skip
        if errors:
            raise invalid(errors, issues)
        results = []
        for item in items:
            raw = decode_checksum(item["checksum"])
            asset = self.state.find_by_checksum(raw) if raw else None
            if asset is None:
                results.append({"id": item["id"], "action": "accept"})
            else:
                results.append(
                    {
                        "id": item["id"],
                        "action": "reject",
                        "reason": "duplicate",
                        "assetId": asset.id,
                        "isTrashed": asset.is_trashed,
                    }
                )
        return _json({"results": results})

    async def statistics(self, request: web.Request) -> web.Response:
        self.auth(request, "asset.statistics")
        trashed = request.query.get("isTrashed") == "true"
        assets = [a for a in self.state.assets.values() if a.is_trashed == trashed]
        images = sum(1 for a in assets if a.type == "IMAGE")
        videos = sum(1 for a in assets if a.type == "VIDEO")
        return _json({"images": images, "videos": videos, "total": images + videos})

    async def asset_get(self, request: web.Request) -> web.Response:
        self.auth(request, "asset.read")
        asset_id = request.match_info["id"]
        self._path_uuid(asset_id)
        asset = self.state.assets.get(asset_id)
        if asset is None:
            raise ApiError(400, "Not found or no asset.read access")
        return _json(self.asset_json(asset))

    async def assets_delete(self, request: web.Request) -> web.StreamResponse:
        self.auth(request, "asset.delete")
        body = await self.read_json(request, "asset-delete")
        ids = [i for i in self._ids(body, "ids") if i in self.state.assets]
        if body.get("force") is True:
            self.state.delete(ids)
        else:
            self.state.trash(ids)
        return web.Response(status=204)

    async def search_metadata(self, request: web.Request) -> web.Response:
        self.auth(request, "asset.read")
        body = await self.read_json(request, "search")
        if not isinstance(body, dict):
            body = {}
        size = body.get("size", 250)
        page = body.get("page", 1)
        if not isinstance(size, int) or not 1 <= size <= 1000:
            raise ApiError(
                400, ["size must not be greater than 1000", "size must not be less than 1"]
            )
        if not isinstance(page, int) or page < 1:
            raise ApiError(400, ["page must not be less than 1"])
        assets = list(self.state.assets.values())
        if body.get("withDeleted") is not True:
            assets = [a for a in assets if not a.is_trashed]
        album_ids = body.get("albumIds")
        if isinstance(album_ids, list):
            for album_id in album_ids:
                album = self.state.albums.get(album_id)
                members = set(album.asset_ids) if album else set()
                assets = [a for a in assets if a.id in members]
        for key, attr in (
            ("originalFileName", "original_file_name"),
            ("deviceId", "device_id"),
            ("deviceAssetId", "device_asset_id"),
            ("id", "id"),
        ):
            if key in body:
                assets = [a for a in assets if getattr(a, attr) == body[key]]
        if "checksum" in body:
            raw = decode_checksum(str(body["checksum"]))
            assets = [a for a in assets if raw is not None and a.checksum == raw.hex()]
        if body.get("isNotInAlbum") is True:
            in_albums = {i for album in self.state.albums.values() for i in album.asset_ids}
            assets = [a for a in assets if a.id not in in_albums]
        # As an index scan on the time does: newest first, ties in upload order; "asc" walks
        # the same index backwards, ties too (golden-v3 34, 34b).
        assets.sort(key=lambda a: a.file_created_at, reverse=True)
        if body.get("order") == "asc":
            assets.reverse()
        start = (page - 1) * size
        items = assets[start : start + size]
        more = start + size < len(assets)
        return _json(
            {
                "albums": {"total": 0, "count": 0, "items": [], "facets": []},
                "assets": {
                    # 3.x counts the items of this page (V3-DIFFERENCES.md, search)
                    "total": len(items) if self.api_version >= 3 else len(assets),
                    "count": len(items),
                    "items": [self.asset_json(a, in_search=True) for a in items],
                    "facets": [],
                    "nextPage": str(page + 1) if more else None,
                },
            }
        )

    # -- upload ------------------------------------------------------------------------------
    async def upload(self, request: web.Request) -> web.StreamResponse:
        self.auth(request, "asset.upload")
        stats = self.state.stats
        stats.uploads_in_flight += 1
        stats.max_uploads_in_flight = max(stats.max_uploads_in_flight, stats.uploads_in_flight)
        try:
            return await self._upload(request)
        except ApiError as exc:
            if 400 <= exc.status < 500:
                stats.rejected += 1
            raise
        finally:
            stats.uploads_in_flight -= 1

    async def _early(
        self, request: web.Request, reader: BodyReader, exc: ApiError
    ) -> web.StreamResponse:
        """Answer before the body is read, then keep reading it, as the real server does."""
        if 400 <= exc.status < 500:
            self.state.stats.rejected += 1
        return await self._answer_then_drain(request, reader, self._error(exc, request[CID_KEY]))

    async def _answer_then_drain(
        self, request: web.Request, reader: BodyReader, response: web.Response
    ) -> web.StreamResponse:
        response.headers["X-Powered-By"] = "Express"
        response.headers[self._cid_header()] = request[CID_KEY]
        response.headers["Keep-Alive"] = "timeout=5"
        await response.prepare(request)
        await response.write_eof()
        await reader.drain()
        return response

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        stats = self.state.stats
        try:
            fault, where = self._draw(request, "upload")
        except ApiError as exc:
            return await self._early(request, BodyReader(self, request, upload=True), exc)
        reader = BodyReader(self, request, fault, where, upload=True)

        header = request.headers.get("x-immich-checksum")
        if header:
            stats.uploads_with_checksum += 1
            raw = decode_checksum(header.split(",")[0].strip())
            existing = self.state.find_by_checksum(raw) if raw else None
            if existing is not None:
                stats.duplicates += 1
                body = {"status": "duplicate", "id": existing.id}
                return await self._answer_then_drain(request, reader, _json(body, 200))

        boundary = self._boundary(request.headers.get("Content-Type", ""))
        if boundary is None:
            # multer ignores a body that is not multipart: no file, so "File is required".
            await reader.drain()
            raise ApiError(400, "File is required")
        parts = MultipartStream(reader.read, boundary)
        fields: dict[str, str] = {}
        sidecar: str | None = None
        asset_name: str | None = None
        sha1 = hashlib.sha1()
        size = 0
        head = bytearray()  # the first bytes: a PNG's size is in its header
        tmp = None
        try:
            while (part := await parts.next_part()) is not None:
                if part.filename is None:
                    text = await parts.read_part(MAX_FIELD_BYTES)
                    fields[part.name] = text.decode("utf-8", errors="replace")
                    continue
                if part.name not in ("assetData", "sidecarData") or (
                    part.name == "assetData" and asset_name is not None
                ):
                    return await self._early(request, reader, ApiError(400, "Unexpected field"))
                # multer checks the type when the part arrives, with the fields read so far.
                shown = fields.get("filename") or part.filename
                ext = Path(shown).suffix.lower()
                allowed = (
                    self.image_extensions | VIDEO_EXTENSIONS
                    if part.name == "assetData"
                    else SIDECAR_EXTENSIONS
                )
                if ext not in allowed:
                    unsupported = ApiError(400, f"Unsupported file type {shown}")
                    return await self._early(request, reader, unsupported)
                if part.name == "sidecarData":
                    data = await parts.read_part(MAX_SIDECAR_BYTES)
                    sidecar = data.decode("utf-8", errors="replace")
                    continue
                asset_name = shown
                tmp = self.state.new_upload_path()
                fh = open(tmp, "wb") if tmp else None  # noqa: SIM115
                try:
                    while chunk := await parts.read_chunk():
                        sha1.update(chunk)
                        if size < 32:
                            head += chunk[: 32 - size]
                        size += len(chunk)
                        if fh:
                            fh.write(chunk)
                finally:
                    if fh:
                        fh.close()
        except MultipartError as exc:
            self.state.discard_tmp(tmp)
            raise ApiError(400, str(exc)) from None
        except (ConnectionDropped, ConnectionError, asyncio.CancelledError):
            self.state.discard_tmp(tmp)
            raise

        if asset_name is None:
            raise ApiError(400, "File is required")
        if size == 0 and self.api_version >= 3:  # file-upload.interceptor.ts of 3.x
            self.state.discard_tmp(tmp)
            raise ApiError(400, "File is empty")
        try:
            validated = self._validate_upload(fields, sidecar)
        except ApiError:
            # The real server leaves such bytes orphaned on disk; we do not need to.
            self.state.discard_tmp(tmp)
            raise
        checksum = sha1.hexdigest()
        existing = self.state.find_by_checksum(bytes.fromhex(checksum))
        if existing is not None:
            self.state.discard_tmp(tmp)
            stats.duplicates += 1
            return _json({"status": "duplicate", "id": existing.id}, 200)

        ext = Path(asset_name).suffix.lower()
        created = now_iso()
        width, height = _png_size(bytes(head))
        asset = Asset(
            id=str(uuid.uuid4()),
            checksum=checksum,
            original_file_name=asset_name,
            device_asset_id=fields.get("deviceAssetId"),
            device_id=fields.get("deviceId"),
            size=size,
            type="VIDEO" if ext in VIDEO_EXTENSIONS else "IMAGE",
            mime_type=MIME_TYPES.get(ext, "application/octet-stream"),
            created_at=created,
            updated_at=created,
            sidecar=sidecar,
            fields=dict(fields),
            width=width,
            height=height,
            file_id=str(uuid.uuid4()) if self.api_version >= 3 else "",
            **validated,
        )
        self.state.add_asset(asset)
        if tmp is not None and (dest := self.state.asset_path(asset)) is not None:
            tmp.replace(dest)
        stats.created += 1
        return _json({"id": asset.id, "status": "created"}, 201)

    @staticmethod
    def _boundary(content_type: str) -> str | None:
        if not content_type.lower().startswith("multipart/form-data"):
            return None
        m = re.search(r'boundary="?([^";]+)"?', content_type)
        if not m:
            raise ApiError(400, "Multipart: Boundary not found")
        return m.group(1)

    def _parse_date(self, value: str) -> datetime | None:
        if self.api_version >= 3 and not ZONED_DT_RE.match(value):
            return None
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        # A date without a zone is read in the server's zone, which is UTC here.
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)

    def _validate_upload(self, fields: dict[str, str], sidecar: str | None) -> dict[str, Any]:
        """The DTO checks, in the DTO's field order, with each version's messages: v2's
        class-validator sentences, v3's zod issues (zod.py)."""
        errors: list[str] = []  # v2
        issues: list[dict[str, Any]] = []  # v3
        v3 = self.api_version >= 3

        if not v3:  # v3 has no such fields, and drops them when sent (V3-DIFFERENCES.md, 4)
            for name in ("deviceAssetId", "deviceId"):
                if not fields.get(name):
                    errors.extend([f"{name} must be a string", f"{name} should not be empty"])
        dates: dict[str, datetime] = {}
        for name in ("fileCreatedAt", "fileModifiedAt"):
            value = fields.get(name)
            if value is None or (value == "" and not v3):
                errors.extend([f"{name} must be a Date instance", f"{name} should not be empty"])
                issues.append(zod.missing_datetime([name]))
                continue
            parsed = self._parse_date(value)
            if parsed is None:
                errors.append(f"{name} must be a date string")
                issues.append(zod.bad_datetime([name]))
            else:
                dates[name] = parsed
        if "isFavorite" in fields and fields["isFavorite"] not in ("true", "false"):
            errors.append("isFavorite must be a boolean value")
            issues.append(zod.not_a_stringbool(["isFavorite"]))
        visibilities = ["archive", "timeline", "hidden", "locked"]
        visibility = fields.get("visibility", "timeline")
        if visibility not in visibilities:
            errors.append(
                "visibility must be one of the following values: archive, timeline, hidden, locked"
            )
            issues.append(zod.not_one_of(["visibility"], visibilities))
        if "livePhotoVideoId" in fields and not UUID_RE.match(fields["livePhotoVideoId"]):
            errors.append("livePhotoVideoId must be a UUID")
            issues.append(zod.bad_uuid(["livePhotoVideoId"]))
        if v3 and "duration" in fields:
            # z.coerce.number().int().min(0): integer milliseconds (V3-DIFFERENCES.md, 6)
            issue = _duration_issue(fields["duration"])
            if issue is not None:
                issues.append(issue)
        if "metadata" in fields:
            try:
                json.loads(fields["metadata"])
            except json.JSONDecodeError:
                errors.append("metadata must be valid JSON")
                issues.append({"code": "custom", "path": ["metadata"], "message": "Invalid JSON"})
        if issues if v3 else errors:
            raise invalid(errors, issues)

        # The metadata job: the earliest of the sent times and the upload time, shown at its UTC
        # wall clock, unless metadata (here: the sidecar) carries a date with an offset.
        now = datetime.now(UTC)
        created = min(dates["fileCreatedAt"], dates["fileModifiedAt"], now)
        local = created
        zone = None
        taken = sidecar_date(sidecar) if sidecar else None
        if taken is not None:
            # A date without an offset is taken as UTC and gets no zone.
            zone = _tz_name(taken.utcoffset()) if taken.tzinfo is not None else None
            local = taken.replace(tzinfo=UTC)  # the wall clock, written as if it were UTC
            created = taken.astimezone(UTC) if taken.tzinfo is not None else local
        return {
            "file_created_at": iso_ms(created),
            "file_modified_at": iso_ms(dates["fileModifiedAt"]),
            "local_date_time": iso_ms(local),
            "time_zone": zone,
            "is_favorite": fields.get("isFavorite") == "true",
            "visibility": visibility,
        }

    # -- not in the real server ---------------------------------------------------------------
    async def testserver_stats(self, request: web.Request) -> web.Response:
        return _json(self.state.stats.snapshot())

    async def testserver_state(self, request: web.Request) -> web.Response:
        return _json(
            {
                "assets": [
                    {
                        "id": a.id,
                        "originalFileName": a.original_file_name,
                        "checksum": a.checksum,
                        "size": a.size,
                        "isTrashed": a.is_trashed,
                    }
                    for a in self.state.assets.values()
                ],
                "albums": [
                    {"id": al.id, "albumName": al.name, "assetIds": al.asset_ids}
                    for al in self.state.albums.values()
                ],
            }
        )
