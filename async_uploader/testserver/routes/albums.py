"""/api/albums: list, create, get, and adding and removing assets (one album, or many at once)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import zod
from ..core import Core
from ..records import Album
from ..shapes import UUID_RE, ApiError, invalid, json_response


class AlbumRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_get("/api/albums", self.albums_list)
        r.add_post("/api/albums", self.album_create)
        r.add_put("/api/albums/assets", self.albums_bulk_add)
        r.add_get("/api/albums/{id}", self.album_get)
        r.add_put("/api/albums/{id}/assets", self.album_add)
        r.add_delete("/api/albums/{id}/assets", self.album_remove)

    async def albums_list(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "album.read").user_id
        albums = [a for a in self.core.state.albums.values() if a.owner_id == owner]
        asset_id = request.query.get("assetId")
        shared = request.query.get("shared")
        if self.core.api_version >= 3:
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
        # Newest first, as the real one; made in the same millisecond: the later one first.
        made = {album_id: i for i, album_id in enumerate(self.core.state.albums)}
        albums.sort(key=lambda a: (a.created_at, made[a.id]), reverse=True)
        return json_response([self.core.album_json(a, with_assets=False) for a in albums])

    async def album_create(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "album.create").user_id
        body = await self.core.read_json(request, "album-create")
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
            issues += self.core.uuid_list_issues(asset_ids, "assetIds")
        if errors:
            raise invalid(errors, issues)
        assert isinstance(name, str)
        album = self.core.state.create_album(name, str(body.get("description") or ""), owner)
        # Ids the user cannot access are dropped silently (golden 50c).
        known = [i for i in dict.fromkeys(asset_ids) if self.core.readable(i, owner)]
        self.core.state.add_to_album(album, known)
        return json_response(self.core.album_json(album, with_assets=True, created=True), 201)

    async def album_get(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "album.read").user_id
        album = self.core.album_or_400(request.match_info["id"], "album.read", owner)
        without = request.query.get("withoutAssets") == "true"
        return json_response(self.core.album_json(album, with_assets=not without))

    async def _album_and_ids(
        self, request: web.Request, permission: str, route: str
    ) -> tuple[Album, list[str], str]:
        """The album of the path, the ids of the body and the key's user, of an album's assets
        route."""
        owner = self.core.auth(request, permission).user_id
        album_id = request.match_info["id"]
        self.core.path_uuid(album_id)
        ids = self.core.ids(await self.core.read_json(request, route), "ids")
        album = self.core.state.albums.get(album_id)
        if album is None or album.owner_id != owner:
            raise ApiError(400, "Album not found")
        return album, ids, owner

    async def album_add(self, request: web.Request) -> web.Response:
        album, ids, owner = await self._album_and_ids(request, "albumAsset.create", "album-add")
        present = set(album.asset_ids)
        results: list[dict[str, Any]] = []
        added: list[str] = []
        for asset_id in ids:
            if asset_id in present:
                results.append({"id": asset_id, "success": False, "error": "duplicate"})
            elif self.core.readable(asset_id, owner) is None:  # a locked one too (golden 49c)
                results.append({"id": asset_id, "success": False, "error": "no_permission"})
            else:
                present.add(asset_id)
                added.append(asset_id)
                results.append({"id": asset_id, "success": True})
        self.core.state.add_to_album(album, added)
        return json_response(results)

    async def album_remove(self, request: web.Request) -> web.Response:
        """DELETE /api/albums/{id}/assets: a result per id, "not_found" for one not in it
        (golden-v3 46b)."""
        album, ids, _ = await self._album_and_ids(request, "albumAsset.delete", "album-remove")
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
        self.core.state.remove_from_album(album, removed)
        return json_response(results)

    async def albums_bulk_add(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "albumAsset.create").user_id
        body = await self.core.read_json(request, "album-add")
        album_ids = self.core.ids(body, "albumIds")
        asset_ids = self.core.ids(body, "assetIds")
        albums = [
            album
            for a in dict.fromkeys(album_ids)
            if (album := self.core.state.albums.get(a)) is not None and album.owner_id == owner
        ]
        assets = [a for a in dict.fromkeys(asset_ids) if self.core.readable(a, owner)]
        if not albums or not assets:
            return json_response({"success": False, "error": "no_permission"})
        any_added = False
        for album in albums:
            new = [a for a in assets if a not in set(album.asset_ids)]
            self.core.state.add_to_album(album, new)
            any_added = any_added or bool(new)
        if not any_added:
            return json_response({"success": False, "error": "duplicate"})
        return json_response({"success": True})
