"""The emulated server's JSON of an asset and of an album, as each version shows them (key order
included): GET /api/assets/{id}, search results, album lists and album pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .state import Album, Asset, ServerState


def pg_time(iso: str) -> str:
    """A stored time as PostgreSQL prints a timestamptz: +00:00, no fraction when it is zero."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "+00:00"


class Views:
    """One server's way of showing its assets and albums (its version, its user)."""

    def __init__(
        self, state: ServerState, api_version: int, user_id: str, owner: dict[str, Any]
    ) -> None:
        self.state = state
        self.api_version = api_version
        self.user_id = user_id
        self.owner = owner

    def owner_fields(self) -> dict[str, Any]:
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
            **self.owner_fields(),
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
