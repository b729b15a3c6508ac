"""/api/assets (but the upload), the bulk upload check, statistics and /api/search/metadata."""

from __future__ import annotations

from aiohttp import web

from .. import zod
from ..core import Core
from ..shapes import ApiError, invalid, json_response
from ..state import decode_checksum


class AssetRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_delete("/api/assets", self.assets_delete)
        r.add_post("/api/assets/bulk-upload-check", self.bulk_check)
        r.add_get("/api/assets/statistics", self.statistics)
        r.add_get("/api/assets/{id}", self.asset_get)
        r.add_post("/api/search/metadata", self.search_metadata)

    async def bulk_check(self, request: web.Request) -> web.Response:
        self.core.auth(request, "asset.upload")
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
            asset = self.core.state.find_by_checksum(raw) if raw else None
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
        return json_response({"results": results})

    async def statistics(self, request: web.Request) -> web.Response:
        self.core.auth(request, "asset.statistics")
        trashed = request.query.get("isTrashed") == "true"
        assets = [a for a in self.core.state.assets.values() if a.is_trashed == trashed]
        images = sum(1 for a in assets if a.type == "IMAGE")
        videos = sum(1 for a in assets if a.type == "VIDEO")
        return json_response({"images": images, "videos": videos, "total": images + videos})

    async def asset_get(self, request: web.Request) -> web.Response:
        self.core.auth(request, "asset.read")
        asset_id = request.match_info["id"]
        self.core.path_uuid(asset_id)
        asset = self.core.state.assets.get(asset_id)
        if asset is None:
            raise ApiError(400, "Not found or no asset.read access")
        return json_response(self.core.asset_json(asset))

    async def assets_delete(self, request: web.Request) -> web.StreamResponse:
        self.core.auth(request, "asset.delete")
        body = await self.core.read_json(request, "asset-delete")
        ids = [i for i in self.core.ids(body, "ids") if i in self.core.state.assets]
        if body.get("force") is True:
            self.core.state.delete(ids)
        else:
            self.core.state.trash(ids)
        return web.Response(status=204)

    async def search_metadata(self, request: web.Request) -> web.Response:
        self.core.auth(request, "asset.read")
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
        assets = list(self.core.state.assets.values())
        if body.get("withDeleted") is not True:
            assets = [a for a in assets if not a.is_trashed]
        album_ids = body.get("albumIds")
        if isinstance(album_ids, list):
            for album_id in album_ids:
                album = self.core.state.albums.get(album_id)
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
            in_albums = {i for album in self.core.state.albums.values() for i in album.asset_ids}
            assets = [a for a in assets if a.id not in in_albums]
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
                    "items": [self.core.asset_json(a, in_search=True) for a in items],
                    "facets": [],
                    "nextPage": str(page + 1) if more else None,
                },
            }
        )
