"""POST /api/assets: the streamed multipart upload, its checksum shortcut and its validation for
2.x and 3.x (field order deciding the type check, zoned dates, the sidecar's capture time)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import zod
from ..body import BodyReader
from ..core import Core
from ..data import (
    MIME_TYPES,
    SIDECAR_EXTENSIONS,
    VIDEO_EXTENSIONS,
)
from ..multipart import MultipartError, MultipartStream
from ..records import VISIBILITIES, Asset, decode_checksum, iso_ms, now_iso
from ..shapes import CID_KEY, UUID_RE, ApiError, ConnectionDropped, invalid, json_response

MAX_FIELD_BYTES = 1024 * 1024  # multer's default fieldSize
MAX_SIDECAR_BYTES = 5 * 1024 * 1024
ZONED_DT_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"
)  # what Immich 3's zod validator takes


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


# What nginx answers when limit_conn turns a request away from a busy server.
BUSY_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>"
    "\r\n</body>\r\n</html>\r\n"
)


class UploadRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_post("/api/assets", self.upload)

    async def upload(self, request: web.Request) -> web.StreamResponse:
        owner = self.core.auth(request, "asset.upload").user_id
        stats = self.core.state.stats
        shaping = self.core.shaping
        if not await self.core.processing.enter(shaping):  # a small server, its queue full
            stats.faults["busy-503"] += 1
            busy = web.Response(status=503, text=BUSY_503, content_type="text/html")
            busy.headers["Server"] = "nginx"
            return await self._answer_then_drain(request, BodyReader(self.core, request), busy)
        stats.uploads_in_flight += 1
        stats.max_uploads_in_flight = max(stats.max_uploads_in_flight, stats.uploads_in_flight)
        try:
            response = await self._upload(request, owner)
            if shaping.processing_ms > 0:  # the server's own work, its place held meanwhile
                await asyncio.sleep(shaping.processing_ms / 1000)
            return response
        except ApiError as exc:
            if 400 <= exc.status < 500:
                stats.rejected += 1
            raise
        finally:
            stats.uploads_in_flight -= 1
            self.core.processing.leave()

    async def _early(
        self, request: web.Request, reader: BodyReader, exc: ApiError
    ) -> web.StreamResponse:
        """Answer before the body is read, then keep reading it, as the real server does."""
        if 400 <= exc.status < 500:
            self.core.state.stats.rejected += 1
        return await self._answer_then_drain(
            request, reader, self.core.error(exc, request[CID_KEY])
        )

    async def _answer_then_drain(
        self, request: web.Request, reader: BodyReader, response: web.Response
    ) -> web.StreamResponse:
        response.headers["X-Powered-By"] = "Express"
        response.headers[self.core.cid_header()] = request[CID_KEY]
        response.headers["Keep-Alive"] = "timeout=5"
        await response.prepare(request)
        await response.write_eof()
        await reader.drain()
        return response

    async def _upload(self, request: web.Request, owner: str) -> web.StreamResponse:
        stats = self.core.state.stats
        try:
            fault, where = self.core.draw(request, "upload")
        except ApiError as exc:
            return await self._early(request, BodyReader(self.core, request, upload=True), exc)
        reader = BodyReader(self.core, request, fault, where, upload=True)

        header = request.headers.get("x-immich-checksum")
        if header:
            stats.uploads_with_checksum += 1
            raw = decode_checksum(header.split(",")[0].strip())
            existing = self.core.state.find_by_checksum(raw, owner) if raw else None
            if existing is not None:
                stats.duplicates += 1
                body = {"status": "duplicate", "id": existing.id}
                return await self._answer_then_drain(request, reader, json_response(body, 200))

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
                    self.core.image_extensions | VIDEO_EXTENSIONS
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
                tmp = self.core.state.new_upload_path()
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
            self.core.state.discard_tmp(tmp)
            raise ApiError(400, str(exc)) from None
        except (ConnectionDropped, ConnectionError, asyncio.CancelledError):
            self.core.state.discard_tmp(tmp)
            raise

        if asset_name is None:
            raise ApiError(400, "File is required")
        if size == 0 and self.core.api_version >= 3:  # file-upload.interceptor.ts of 3.x
            self.core.state.discard_tmp(tmp)
            raise ApiError(400, "File is empty")
        try:
            validated = self._validate_upload(fields, sidecar)
        except ApiError:
            # The real server leaves such bytes orphaned on disk; we do not need to.
            self.core.state.discard_tmp(tmp)
            raise
        checksum = sha1.hexdigest()
        existing = self.core.state.find_by_checksum(bytes.fromhex(checksum), owner)
        if existing is not None:  # never changed, whatever visibility was sent (golden 48e-48g)
            self.core.state.discard_tmp(tmp)
            stats.duplicates += 1
            return json_response({"status": "duplicate", "id": existing.id}, 200)

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
            file_id=str(uuid.uuid4()) if self.core.api_version >= 3 else "",
            owner_id=owner,
            **validated,
        )
        self.core.state.add_asset(asset)
        if self.core.jobs is not None:
            self.core.jobs.created(asset.id)
        if tmp is not None and (dest := self.core.state.asset_path(asset)) is not None:
            tmp.replace(dest)
        stats.created += 1
        return json_response({"id": asset.id, "status": "created"}, 201)

    @staticmethod
    def _boundary(content_type: str) -> str | None:
        if not content_type.lower().startswith("multipart/form-data"):
            return None
        m = re.search(r'boundary="?([^";]+)"?', content_type)
        if not m:
            raise ApiError(400, "Multipart: Boundary not found")
        return m.group(1)

    def _parse_date(self, value: str) -> datetime | None:
        if self.core.api_version >= 3 and not ZONED_DT_RE.match(value):
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
        v3 = self.core.api_version >= 3

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
        visibilities = list(VISIBILITIES)
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
