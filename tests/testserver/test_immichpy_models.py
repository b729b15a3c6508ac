"""A second client as a fidelity check (issue 11): immichpy 9.2.4 is generated from Immich 3's
OpenAPI spec, and its pydantic models check every field's type, format and presence. Each answer
to a call the uploader makes, from the test server in v3 mode, must parse through them: a field
of the wrong type or shape fails here without our writing down what to expect.

immichpy follows a later spec than 3.1.0 in places (its UserAdminResponseDto wants a
``clusterGroupId`` that 3.1.0 does not send). The transcript wins: where our answer fails a
model, the real 3.1.0 answer to the same call (golden-v3) must fail it in exactly the same way."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest
from immichpy.client.generated import models as m
from pydantic import ValidationError

from async_uploader.demo import png
from async_uploader.testserver import ServerOptions, TestServer

from .golden import GOLDEN_V3, parse


def problems(model: Any, body: Any) -> set[tuple[Any, ...]]:
    """What the model finds wrong with a body: (item, field path, error type) for each."""
    out: set[tuple[Any, ...]] = set()
    for i, item in enumerate(body if isinstance(body, list) else [body]):
        try:
            assert model.from_dict(item) is not None
        except ValidationError as exc:
            out |= {(i, tuple(e["loc"]), e["type"]) for e in exc.errors()}
    return out


pytestmark = pytest.mark.anyio


def upload_form(data: bytes, name: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for k, v in [
        ("fileCreatedAt", "2024-05-01T12:00:00.000Z"),
        ("fileModifiedAt", "2024-05-01T12:00:00.000Z"),
        ("filename", name),
    ]:
        form.add_field(k, v)
    form.add_field("assetData", data, filename=name, content_type="application/octet-stream")
    return form


async def test_every_answer_the_uploader_reads_parses_as_immichpy_models() -> None:
    server = TestServer(ServerOptions(port=0, api_version=3))
    await server.start()
    api = server.url + "/api"
    seen: list[str] = []
    try:
        async with aiohttp.ClientSession(headers={"x-api-key": server.api_key}) as http:

            async def call(
                method: str, path: str, model: Any, golden: str | None, **kw: Any
            ) -> Any:
                async with http.request(method, api + path, **kw) as r:
                    assert r.status < 300, (path, r.status, await r.text())
                    body = await r.json()
                ours = problems(model, body)
                if ours:  # only as the real server is wrong for this model, if at all
                    assert golden is not None, (path, ours)
                    real = parse(GOLDEN_V3 / f"{golden}.txt").body
                    assert ours == problems(model, real), (path, ours)
                seen.append(f"{method} {path.split('?')[0]}")
                return body

            await call("GET", "/server/ping", m.ServerPingResponse, "01-ping")
            await call("GET", "/server/version", m.ServerVersionResponseDto, "02-version")
            await call(
                "GET", "/server/media-types", m.ServerMediaTypesResponseDto, "03-media-types"
            )
            await call("GET", "/server/config", m.ServerConfigDto, "40b-server-config")
            await call("GET", "/users/me", m.UserAdminResponseDto, "04-users-me-good-key")
            await call("GET", "/api-keys/me", m.ApiKeyResponseDto, "37b-api-keys-me-full-key")
            await call("GET", "/albums", m.AlbumResponseDto, "20-albums-list-after")
            album = await call(
                "POST",
                "/albums",
                m.AlbumResponseDto,
                "07-album-create",
                json={"albumName": "Screens"},
            )
            first = png(16, 16, 1)
            created = await call(
                "POST",
                "/assets",
                m.AssetMediaResponseDto,
                "08-upload-first",
                data=upload_form(first, "a.png"),
            )
            assert created["status"] == "created"
            header = {"x-immich-checksum": hashlib.sha1(first).hexdigest()}
            again = await call(
                "POST",
                "/assets",
                m.AssetMediaResponseDto,
                "09-upload-duplicate-hex",
                data=upload_form(first, "a.png"),
                headers=header,
            )
            assert again["status"] == "duplicate"
            checks = {
                "assets": [
                    {"id": "0", "checksum": hashlib.sha1(first).hexdigest()},
                    {"id": "1", "checksum": "0" * 40},
                ]
            }
            result = await call(
                "POST",
                "/assets/bulk-upload-check",
                m.AssetBulkUploadCheckResponseDto,
                "14-bulk-upload-check",
                json=checks,
            )
            assert [r["action"] for r in result["results"]] == ["reject", "accept"]
            await call(
                "PUT",
                f"/albums/{album['id']}/assets",
                m.BulkIdResponseDto,
                "15-album-add-assets-first",
                json={"ids": [created["id"]]},
            )
            await call(
                "GET", "/albums", m.AlbumResponseDto, "20-albums-list-after"
            )  # with an asset
            await call("GET", f"/albums/{album['id']}", m.AlbumResponseDto, "33-album-get")
            await call("GET", f"/assets/{created['id']}", m.AssetResponseDto, "22-asset-info")
            await call(
                "POST",
                "/search/metadata",
                m.SearchResponseDto,
                "34-search-metadata-albumIds",
                json={"albumIds": [album["id"]]},
            )
            await call("GET", "/assets/statistics", m.AssetStatsResponseDto, None)
    finally:
        await server.stop()
    assert len(seen) == 17
