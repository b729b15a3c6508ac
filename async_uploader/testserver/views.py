"""The emulated server's JSON of a user, an asset, an album and a tag, as each version shows them
(key order included): GET /api/assets/{id}, search results, album lists and pages, tag lists."""

from __future__ import annotations

import enum
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .records import OWN, Album, Asset, Tag
from .state import ServerState

# The colours a new user's avatar is given (UserAvatarColor), one picked at random by the server.
OWNER_KEYS = ("id", "email", "name", "profileImagePath", "avatarColor")  # then profileChangedAt
AVATAR_COLORS = ("primary", "pink", "red", "yellow", "blue", "green", "purple", "orange", "gray")


def pg_time(iso: str) -> str:
    """A stored time as PostgreSQL prints a timestamptz: +00:00, no fraction when it is zero."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "+00:00"


def avatar_color(user_id: str) -> str:
    return AVATAR_COLORS[zlib.crc32(user_id.encode()) % len(AVATAR_COLORS)]


class Shape(enum.Enum):
    """Where an asset is shown: its own page, a search result, or embedded in a 2.x album."""

    FULL = "full"
    SEARCH = "search"
    ALBUM = "album"


def shown(asset: Asset) -> bool:
    """Whether an album counts and embeds it: timeline and archived assets, not hidden or locked
    ones, not trashed ones (album.repository.ts, withDefaultVisibility; golden 49d, 49f)."""
    return asset.visibility in ("timeline", "archive") and not asset.is_trashed


class Views:
    """One server's way of showing its users, assets, albums and tags (its version, its user)."""

    def __init__(
        self,
        state: ServerState,
        api_version: int,
        user_id: str,
        user: dict[str, Any],
        owner: dict[str, Any],
    ) -> None:
        self.state = state
        self.api_version = api_version
        self.own_id = user_id
        self.own_user = user
        self.own_owner = owner

    # -- users -------------------------------------------------------------------------------
    def user_id(self, owner: str) -> str:
        return self.own_id if owner == OWN else owner

    def user_json(self, owner: str, used: int = 0) -> dict[str, Any]:
        """A user as /api/users/me and POST /api/admin/users show it (golden 04, 47-00a)."""
        user = self.state.users.get(owner)
        if user is None:
            return {**self.own_user, "quotaUsageInBytes": used}
        return {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "profileImagePath": "",
            "avatarColor": user.avatar_color,
            "profileChangedAt": user.created_at,
            "storageLabel": None,
            "shouldChangePassword": True,
            "isAdmin": user.is_admin,
            "createdAt": user.created_at,
            "deletedAt": None,
            "updatedAt": user.created_at,
            "oauthId": "",
            "quotaSizeInBytes": None,
            "quotaUsageInBytes": used,
            "status": "active",
            "license": None,
        }

    def owner_json(self, owner: str) -> dict[str, Any]:
        """The smaller user of an album's or an asset's owner, its time as PostgreSQL prints it."""
        if owner not in self.state.users:
            return self.own_owner
        user = self.user_json(owner)
        return {k: user[k] for k in OWNER_KEYS} | {
            "profileChangedAt": pg_time(user["profileChangedAt"])
        }

    # -- assets ------------------------------------------------------------------------------
    def asset_json(self, asset: Asset, shape: Shape = Shape.FULL) -> dict[str, Any]:
        """An asset as GET /api/assets/{id} shows it (golden 22, 47l; golden-v3 22, 47l); search
        results leave out owner, exifInfo, tags and stack (golden 47o, golden-v3 34), and a 2.x
        album's embedded assets are search results with their exifInfo and PostgreSQL's times
        (golden 49d). 3.x dropped deviceAssetId, deviceId and unassignedFaces (V3-DIFFERENCES 12)."""
        v2 = self.api_version < 3
        full = shape is Shape.FULL
        when = pg_time if shape is Shape.ALBUM else str
        owner = self.user_id(asset.owner_id)
        out: dict[str, Any] = {"id": asset.id, "createdAt": when(asset.created_at)}
        if v2:
            out["deviceAssetId"] = asset.device_asset_id
        out["ownerId"] = owner
        if full:
            out["owner"] = self.owner_json(asset.owner_id)
        if v2:
            out["deviceId"] = asset.device_id
        file_id = asset.file_id or asset.id
        out.update(
            {
                "libraryId": None,
                "type": asset.type,
                "originalPath": f"/data/upload/{owner}/{file_id[:2]}/{file_id[2:4]}/"
                f"{file_id}{Path(asset.original_file_name).suffix.lower()}",
                "originalFileName": asset.original_file_name,
                "originalMimeType": asset.mime_type,
                "thumbhash": None,  # made from the pixels by the thumbnail job: not emulated
                "fileCreatedAt": when(asset.file_created_at),
                "fileModifiedAt": when(asset.file_modified_at),
                "localDateTime": when(asset.local_date_time),
                "updatedAt": when(asset.updated_at),
                "isFavorite": asset.is_favorite,
                "isArchived": asset.visibility == "archive",
                "isTrashed": asset.is_trashed,
                "visibility": asset.visibility,
                # metadata extraction: v2 a zero interval, v3 null, for a still image
                "duration": "0:00:00.00000" if v2 else None,
            }
        )
        if shape is not Shape.SEARCH:
            out["exifInfo"] = self._exif(asset)
        out["livePhotoVideoId"] = None
        if full:
            out["tags"] = [self.tag_json(t, in_asset=True) for t in self.tags_of(asset)]
        out["people"] = []
        if full and v2:
            out["unassignedFaces"] = []
        out["checksum"] = asset.checksum_b64
        if full:
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

    @staticmethod
    def _exif(asset: Asset) -> dict[str, Any]:
        """What metadata extraction finds in a screenshot: its size, and the times it was sent."""
        return {
            "make": None,
            "model": None,
            "exifImageWidth": asset.width,
            "exifImageHeight": asset.height,
            "fileSizeInByte": asset.size,
            "orientation": None,
            "dateTimeOriginal": pg_time(asset.file_created_at),
            "modifyDate": pg_time(asset.file_modified_at),
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

    # -- tags --------------------------------------------------------------------------------
    def tags_of(self, asset: Asset) -> list[Tag]:
        """Its own tags (not their parents). The server gives no order; by value, case
        ignored, is what the captures show (golden 47l)."""
        tags = [self.state.tags[t] for t in asset.tag_ids if t in self.state.tags]
        return sorted(tags, key=lambda t: t.value.casefold())

    @staticmethod
    def tag_json(tag: Tag, in_asset: bool = False) -> dict[str, Any]:
        """A tag as /api/tags shows it, or inside an asset with PostgreSQL's times (golden 47,
        47l); ``parentId`` only when it has a parent, ``color`` only when it has one."""
        when = pg_time if in_asset else str
        out: dict[str, Any] = {"id": tag.id}
        if tag.parent_id is not None:
            out["parentId"] = tag.parent_id
        out.update(
            {
                "name": tag.name,
                "value": tag.value,
                "createdAt": when(tag.created_at),
                "updatedAt": when(tag.updated_at),
            }
        )
        return out

    # -- albums ------------------------------------------------------------------------------
    def album_json(self, album: Album, with_assets: bool, created: bool = False) -> dict[str, Any]:
        """An album (golden 07, 49d, 50; golden-v3 07, 49d): its count, dates and embedded
        assets (2.x) leave out hidden ones (``shown``). The answer to its creation gives the
        first and last capture times as stored; later answers give their days (golden 50, 50f)."""
        assets = [self.state.assets[a] for a in album.asset_ids if a in self.state.assets]
        live = [a for a in assets if shown(a)]
        owner = self.owner_json(album.owner_id)
        out: dict[str, Any] = {
            "albumName": album.name,
            "description": album.description,
            "albumThumbnailAssetId": live[0].id if live else None,
            "createdAt": album.created_at,
            "updatedAt": album.updated_at,
            "id": album.id,
        }
        if self.api_version < 3:
            out.update({"ownerId": self.user_id(album.owner_id), "owner": owner})
        out.update(
            {
                "albumUsers": [{"user": owner, "role": "owner"}] if self.api_version >= 3 else [],
                "shared": False,
                "hasSharedLink": False,
            }
        )
        if live:
            if created:
                times = sorted(a.file_created_at for a in live)
                out["startDate"], out["endDate"] = pg_time(times[0]), pg_time(times[-1])
            else:
                days = sorted(a.local_date_time[:10] for a in live)
                out["startDate"] = f"{days[0]}T00:00:00.000Z"
                out["endDate"] = f"{days[-1]}T00:00:00.000Z"
        if self.api_version < 3:
            embedded = sorted(live, key=lambda a: a.file_created_at, reverse=True)
            out["assets"] = (
                [self.asset_json(a, Shape.ALBUM) for a in embedded] if with_assets else []
            )
        out.update({"assetCount": len(live), "isActivityEnabled": True, "order": "desc"})
        if live and not created:
            out["lastModifiedAssetTimestamp"] = max(a.updated_at for a in live)
        return out
