"""/api/assets (but the upload), the bulk upload check, statistics and /api/search/metadata. A
key sees its user's assets only, and never a locked one (no API key has elevated permission)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import zod
from ..core import Core
from ..records import VISIBILITIES, Asset, decode_checksum
from ..shapes import ApiError, invalid, json_response
from ..views import Shape


class AssetRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_delete("/api/assets", self.assets_delete)
        r.add_put("/api/assets", self.assets_update)
        r.add_post("/api/assets/bulk-upload-check", self.bulk_check)
        r.add_get("/api/assets/statistics", self.statistics)
        r.add_get("/api/assets/{id}", self.asset_get)
        r.add_post("/api/search/metadata", self.search_metadata)

    async def bulk_check(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "asset.upload").user_id
        body = await self.core.read_json(request, "bulk-check")
        items = body.get("assets") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise invalid(
                ["assets must be an array"], [zod.invalid_type(["assets"], "array", items)]
            )
        errors, issues = [], []
        for i, item in enumerate(items):
            fields = item if isinstance(item, dict) else {}
            for name in ("id", "checksum"):
                if not isinstance(fields.get(name), str):
                    errors.append(f"assets.{i}.{name} must be a string")
                    issues.append(zod.invalid_type(["assets", i, name], "string", fields.get(name)))
        if errors:
            raise invalid(errors, issues)
        results = []
        for item in items:
            raw = decode_checksum(item["checksum"])
            asset = self.core.state.find_by_checksum(raw, owner) if raw else None
            if asset is None:  # locked, archived and hidden ones are found (golden 48m, 49l)
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
        return json_response({"results": results})

    async def statistics(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "asset.statistics").user_id
        trashed = request.query.get("isTrashed") == "true"
        assets = [a for a in self.core.state.owned(owner) if a.is_trashed == trashed]
        images = sum(1 for a in assets if a.type == "IMAGE")
        videos = sum(1 for a in assets if a.type == "VIDEO")
        return json_response({"images": images, "videos": videos, "total": images + videos})

    async def asset_get(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "asset.read").user_id
        asset_id = request.match_info["id"]
        self.core.path_uuid(asset_id)
        asset = self.core.readable(asset_id, owner)
        if asset is None:  # a locked one too (golden 48k)
            raise ApiError(400, "Not found or no asset.read access")
        return json_response(self.core.asset_json(asset))

    async def assets_update(self, request: web.Request) -> web.StreamResponse:
        """PUT /api/assets {ids, visibility?, isFavorite?}: 204, and the assets changed (golden
        48h); one id the key may not update fails them all."""
        owner = self.core.auth(request, "asset.update").user_id
        body = await self.core.read_json(request, "asset-update")
        ids = self.core.ids(body, "ids")
        visibility = body.get("visibility")
        if visibility is not None and visibility not in VISIBILITIES:
            raise invalid(
                [f"visibility must be one of the following values: {', '.join(VISIBILITIES)}"],
                [zod.not_one_of(["visibility"], list(VISIBILITIES))],
            )
        favorite = body.get("isFavorite")
        if favorite is not None and not isinstance(favorite, bool):
            raise invalid(
                ["isFavorite must be a boolean value"],
                [zod.invalid_type(["isFavorite"], "boolean", favorite)],
            )
        if any(self.core.readable(i, owner) is None for i in ids):
            raise ApiError(400, "Not found or no asset.update access")
        if visibility is not None:
            self.core.state.set_visibility(list(dict.fromkeys(ids)), visibility)
        if favorite is not None:
            self.core.state.set_favorite(list(dict.fromkeys(ids)), favorite)
        return web.Response(status=204)

    async def assets_delete(self, request: web.Request) -> web.StreamResponse:
        owner = self.core.auth(request, "asset.delete").user_id
        body = await self.core.read_json(request, "asset-delete")
        ids = [i for i in self.core.ids(body, "ids") if self.core.readable(i, owner)]
        if body.get("force") is True:
            self.core.state.delete(ids)
        else:
            self.core.state.trash(ids)
        return web.Response(status=204)

    def _searched(self, owner: str, body: dict[str, Any]) -> list[Asset]:
        """The assets a metadata search matches, before paging: the key's user's, of the asked
        visibility or of the version's default (2.x: the timeline only; 3.x: all but locked,
        V3-DIFFERENCES 25), with every given filter."""
        visibility = body.get("visibility")
        if visibility is not None and visibility not in VISIBILITIES:
            raise invalid(
                [f"visibility must be one of the following values: {', '.join(VISIBILITIES)}"],
                [zod.not_one_of(["visibility"], list(VISIBILITIES))],
            )
        if visibility == "locked":
            raise ApiError(401, "Elevated permission is required")  # golden 49k
        if visibility is not None:
            wanted: tuple[str, ...] = (visibility,)
        elif self.core.api_version >= 3:
            wanted = ("timeline", "archive", "hidden")
        else:
            wanted = ("timeline",)
        assets = [a for a in self.core.state.owned(owner) if a.visibility in wanted]
        if body.get("withDeleted") is not True:
            assets = [a for a in assets if not a.is_trashed]
        album_ids = body.get("albumIds")
        if isinstance(album_ids, list) and album_ids:
            for album_id in album_ids:
                album = self.core.state.albums.get(album_id) if isinstance(album_id, str) else None
                if album is None or album.owner_id != owner:
                    raise ApiError(400, "Not found or no album.read access")
                members = set(album.asset_ids)
                assets = [a for a in assets if a.id in members]
        tag_ids = body.get("tagIds")
        if isinstance(tag_ids, list) and tag_ids:
            # Each given tag, or one below it, must be on the asset (database.ts, hasTags).
            under = [self.core.tag_and_below(t) for t in tag_ids]
            assets = [a for a in assets if all(set(a.tag_ids) & u for u in under)]
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
            in_albums = {i for album in self.core.state.albums.values() for i in album.asset_ids}
            assets = [a for a in assets if a.id not in in_albums]
        return assets

    async def search_metadata(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "asset.read").user_id
        body = await self.core.read_json(request, "search")
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
        assets = self._searched(owner, body)
        # As an index scan on the time does: newest first, ties in upload order; "asc" walks
        # the same index backwards, ties too (golden-v3 34, 34b).
        assets.sort(key=lambda a: a.file_created_at, reverse=True)
        if body.get("order") == "asc":
            assets.reverse()
        start = (page - 1) * size
        items = assets[start : start + size]
        more = start + size < len(assets)
        return json_response(
            {
                "albums": {"total": 0, "count": 0, "items": [], "facets": []},
                "assets": {
                    # 3.x counts the items of this page (V3-DIFFERENCES.md, search)
                    "total": len(items) if self.core.api_version >= 3 else len(assets),
                    "count": len(items),
                    "items": [self.core.asset_json(a, Shape.SEARCH) for a in items],
                    "facets": [],
                    "nextPage": str(page + 1) if more else None,
                },
            }
        )
