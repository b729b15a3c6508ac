"""What every route of the emulated server shares: the error shapes of 2.x and 3.x, reading a
body under the fault plan, authentication, and the JSON of an asset and an album.

``Core`` holds the state; each area's routes (``routes/``) are a subclass of it, and ``app.Emulator``
puts them together. Nothing here imports from the rest of ``async_uploader``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from . import zod
from .data import (
    MEDIA_TYPES,
    MEDIA_TYPES_V3,
    OWNER,
    OWNER_V3,
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
from .shaping import Fault, FaultPlan, Processing, ScriptedFault, Shaping, TokenBucket
from .state import Album, ApiKey, Asset, ServerState

MAX_JSON_BYTES = 10 * 1024 * 1024  # the server's body-parser limit
READ_CHUNK = 64 * 1024
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

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


def json_response(data: Any, status: int = 200) -> web.Response:
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


def new_cid() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


class BodyReader:
    """Reads a request body through the shared bandwidth cap, counting bytes and injecting faults."""

    def __init__(
        self,
        emulator: Core,
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


def _pg_time(iso: str) -> str:
    """A stored time as PostgreSQL prints a timestamptz: +00:00, no fraction when it is zero."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "+00:00"


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
        self.queues = QUEUES_V3 if v3 else QUEUES_V2
        self.faults = FaultPlan(seed)
        self._idle_since: dict[int, float] = {}  # connection -> when its last answer went out
        self.shaping = Shaping()
        self.bucket = TokenBucket(0)
        self.processing = Processing()  # a small server's places (Shaping.max_processing)
        self.set_shaping(shaping or Shaping())
        self.hostile = Hostile(self)

    def set_shaping(self, shaping: Shaping) -> None:
        self.shaping = shaping
        self.bucket.rate = shaping.bandwidth_kbps * 1000 / 8

    def script(self, fault: ScriptedFault) -> None:
        self.faults.scripted.append(fault)

    def error_response(self, status: int, message: str | list[str]) -> web.Response:
        """An error in this server's own shape (for answers made outside the routes)."""
        return self._error(ApiError(status, message), new_cid())

    def _error(self, exc: ApiError, cid: str) -> web.Response:
        body = _error_body(exc.status, exc.message, cid, self.api_version >= 3, exc.issues)
        response = json_response(body, exc.status)
        response.headers.update(exc.headers)
        return response

    def _cid_header(self) -> str:
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
                "make": None,
                "model": None,
                "exifImageWidth": asset.width,
                "exifImageHeight": asset.height,
                "fileSizeInByte": asset.size,
                "orientation": None,
                "dateTimeOriginal": _pg_time(asset.file_created_at),
                "modifyDate": _pg_time(asset.file_modified_at),
                "timeZone": asset.time_zone,
                "lensModel": None,
                "fNumber": None,
                "focalLength": None,
                "iso": None,
                "exposureTime": None,
                "latitude": None,
                "longitude": None,
                "city": None,
                "state": None,
                "country": None,
                "description": "",
                "projectionType": None,
                "rating": None,
            }
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
            raise invalid(
                [f"each value in {field} must be a UUID"], self._uuid_list_issues(ids, field)
            )
        return ids
