"""/api/tags: list, create, upsert by path, tag assets in bulk or per tag, untag, get, delete
(golden 47 to 47v, the same in 2.x and 3.x but for an empty name: V3-DIFFERENCES 27)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import zod
from ..core import Core
from ..records import Tag
from ..shapes import ApiError, invalid, json_response


class TagRoutes:
    def __init__(self, core: Core) -> None:
        self.core = core

    def add_to(self, r: web.UrlDispatcher) -> None:
        r.add_get("/api/tags", self.tags_list)
        r.add_post("/api/tags", self.tag_create)
        r.add_put("/api/tags", self.tags_upsert)
        r.add_put("/api/tags/assets", self.tags_assets)
        r.add_get("/api/tags/{id}", self.tag_get)
        r.add_delete("/api/tags/{id}", self.tag_delete)
        r.add_put("/api/tags/{id}/assets", self.tag_add_assets)
        r.add_delete("/api/tags/{id}/assets", self.tag_remove_assets)

    def _json(self, tag: Tag) -> dict[str, Any]:
        return self.core.views.tag_json(tag)

    def _tag_or_400(self, tag_id: str, owner: str, access: str) -> Tag:
        self.core.path_uuid(tag_id)
        tag = self.core.state.tags.get(tag_id)
        if tag is None or tag.owner_id != owner:
            raise ApiError(400, f"Not found or no {access} access")  # golden 47k
        return tag

    async def _tag_and_ids(self, request: web.Request) -> tuple[Tag, list[str], str]:
        """The tag of the path, the ids of the body and the key's user, of a tag's assets route."""
        owner = self.core.auth(request, "tag.asset").user_id
        tag = self._tag_or_400(request.match_info["id"], owner, "tag.asset")
        ids = self.core.ids(await self.core.read_json(request, "tag-assets"), "ids")
        return tag, ids, owner

    async def tags_list(self, request: web.Request) -> web.Response:
        """By value, in byte order: the server's ORDER BY under its C collation (golden 47c)."""
        owner = self.core.auth(request, "tag.read").user_id
        tags = sorted(
            (t for t in self.core.state.tags.values() if t.owner_id == owner),
            key=lambda t: t.value.encode(),
        )
        return json_response([self._json(t) for t in tags])

    async def tag_create(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "tag.create").user_id
        body = await self.core.read_json(request, "tag-create")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str):
            raise invalid(["name must be a string"], [zod.invalid_type(["name"], "string", name)])
        parent_id = body.get("parentId")
        value = name
        if parent_id is not None:
            value = f"{self._tag_or_400(str(parent_id), owner, 'tag.read').value}/{name}"
        if self.core.state.tag_by_value(value, owner) is not None:
            raise ApiError(400, "A tag with that name already exists")  # golden 47d
        return json_response(self._json(self.core.state.upsert_tag(value, owner)), 201)

    async def tags_upsert(self, request: web.Request) -> web.Response:
        """PUT /api/tags {"tags": [...]}: each path made with its parents, or touched; the answer
        has the named tags only, each once (golden 47, 47b). 2.x refuses an empty name, 3.x
        skips it, as it skips a name of slashes only (golden 47u; tag.ts)."""
        owner = self.core.auth(request, "tag.create").user_id
        body = await self.core.read_json(request, "tags-upsert")
        names = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(names, list):
            raise invalid(
                ["tags must be an array", "each value in tags must be a string"],
                [zod.invalid_type(["tags"], "array", names)],
            )
        wrong = [i for i, n in enumerate(names) if not isinstance(n, str)]
        if wrong:
            raise invalid(
                ["each value in tags must be a string"],
                [zod.invalid_type(["tags", i], "string", names[i]) for i in wrong],
            )
        if self.core.api_version < 3 and "" in names:
            raise ApiError(400, ["each value in tags should not be empty"])
        tags = [
            self.core.state.upsert_tag(name, owner)
            for name in dict.fromkeys(names)
            if any(part for part in name.split("/"))
        ]
        return json_response([self._json(t) for t in tags])

    async def tags_assets(self, request: web.Request) -> web.Response:
        """PUT /api/tags/assets {tagIds, assetIds}: every pair made; the count is of the new ones
        only, and ids the key may not use are left out, not refused (golden 47e-47i)."""
        owner = self.core.auth(request, "tag.asset").user_id
        body = await self.core.read_json(request, "tags-assets")
        tag_ids = self.core.ids(body, "tagIds")
        asset_ids = self.core.ids(body, "assetIds")
        tags = [
            tag
            for t in dict.fromkeys(tag_ids)
            if (tag := self.core.state.tags.get(t)) is not None and tag.owner_id == owner
        ]
        assets = [a for a in dict.fromkeys(asset_ids) if self.core.readable(a, owner)]
        count = sum(len(self.core.state.tag_assets(tag, assets)) for tag in tags)
        return json_response({"count": count})

    async def tag_get(self, request: web.Request) -> web.Response:
        owner = self.core.auth(request, "tag.read").user_id
        return json_response(
            self._json(self._tag_or_400(request.match_info["id"], owner, "tag.read"))
        )

    async def tag_delete(self, request: web.Request) -> web.StreamResponse:
        """DELETE /api/tags/{id}: the tag and every tag under it, off every asset."""
        owner = self.core.auth(request, "tag.delete").user_id
        tag = self._tag_or_400(request.match_info["id"], owner, "tag.delete")
        self.core.state.delete_tags(sorted(self.core.tag_and_below(tag.id)))
        return web.Response(status=204)

    async def tag_add_assets(self, request: web.Request) -> web.Response:
        """PUT /api/tags/{id}/assets {ids}: a result per id, success, duplicate or
        no_permission (golden 47j)."""
        tag, ids, owner = await self._tag_and_ids(request)
        results: list[dict[str, Any]] = []
        for asset_id in ids:
            asset = self.core.readable(asset_id, owner)
            if asset is None:
                results.append({"id": asset_id, "success": False, "error": "no_permission"})
            elif not self.core.state.tag_assets(tag, [asset_id]):
                results.append({"id": asset_id, "success": False, "error": "duplicate"})
            else:
                results.append({"id": asset_id, "success": True})
        return json_response(results)

    async def tag_remove_assets(self, request: web.Request) -> web.Response:
        """DELETE /api/tags/{id}/assets {ids}: a result per id, success or not_found."""
        tag, ids, owner = await self._tag_and_ids(request)
        results: list[dict[str, Any]] = []
        for asset_id in ids:
            asset = self.core.readable(asset_id, owner)
            if asset is None or tag.id not in asset.tag_ids:
                results.append({"id": asset_id, "success": False, "error": "not_found"})
            else:
                self.core.state.untag_assets(tag, [asset_id])
                results.append({"id": asset_id, "success": True})
        return json_response(results)
