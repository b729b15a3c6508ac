"""The test server answers as the real Immich 2.7.5 server did, exchange by exchange (golden)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from async_uploader.testserver import ServerOptions, TestServer

from .golden import DATA, FILES, Exchange, exchanges

pytestmark = pytest.mark.anyio

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
# Values that differ from run to run on the real server too (golden/README.md, "Redaction").
VARYING_KEYS = {"correlationId", "createdAt", "updatedAt", "lastModifiedAssetTimestamp"}

# Which schema each golden response must satisfy (openapi.json, Immich 2.7.5).
SCHEMAS = {
    "01-ping": "ServerPingResponse",
    "02-version": "ServerVersionResponseDto",
    "03-media-types": "ServerMediaTypesResponseDto",
    "04-users-me-good-key": "UserAdminResponseDto",
    "07-album-create": "AlbumResponseDto",
    "08-upload-first": "AssetMediaResponseDto",
    "09-upload-duplicate-hex": "AssetMediaResponseDto",
    "14-bulk-upload-check": "AssetBulkUploadCheckResponseDto",
    "18-albums-bulk-add-all-duplicate": "AlbumsAddAssetsResponseDto",
}


def openapi_validator(schema_name: str, many: bool = False) -> jsonschema.Validator:
    spec = json.loads((DATA / "openapi-2.7.5-subset.json").read_text())

    def nullable(node: Any) -> Any:
        # OpenAPI 3.0's "nullable" is not JSON Schema: turn it into a null alternative.
        if isinstance(node, dict):
            node = {k: nullable(v) for k, v in node.items()}
            if node.pop("nullable", False):
                return {"anyOf": [node, {"type": "null"}]}
            return node
        if isinstance(node, list):
            return [nullable(v) for v in node]
        return node

    components = nullable(spec["components"])
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    root = {"components": components, **({"type": "array", "items": ref} if many else ref)}
    return jsonschema.Draft202012Validator(root)


class IdMap:
    """Maps the golden run's ids to ours, both ways, learning from responses."""

    def __init__(self) -> None:
        self.ours: dict[str, str] = {}  # golden -> ours

    def learn(self, golden: Any, ours: Any) -> None:
        if isinstance(golden, dict) and isinstance(ours, dict):
            for k in golden.keys() & ours.keys():
                self.learn(golden[k], ours[k])
        elif isinstance(golden, list) and isinstance(ours, list):
            for g, o in zip(golden, ours, strict=False):
                self.learn(g, o)
        elif (
            isinstance(golden, str)
            and isinstance(ours, str)
            and UUID.match(golden)
            and UUID.match(ours)
            and golden not in self.ours
        ):
            self.ours[golden] = ours

    def to_ours(self, text: str) -> str:
        for g, o in self.ours.items():
            text = text.replace(g, o)
        return text

    def normalise(self, value: Any, key: str = "") -> Any:
        """Our body in golden terms: our ids mapped back, varying values blanked."""
        back = {o: g for g, o in self.ours.items()}
        if isinstance(value, dict):
            return {k: self.normalise(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.normalise(v, key) for v in value]
        if key in VARYING_KEYS:
            return "<varies>"
        if isinstance(value, str) and UUID.match(value):
            return back.get(value, "<unknown-id>")
        return value


def blank(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: blank(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [blank(v, key) for v in value]
    return "<varies>" if key in VARYING_KEYS else value


async def send(session: aiohttp.ClientSession, url: str, key: str, ex: Exchange, ids: IdMap) -> tuple[int, dict[str, str], Any]:  # fmt: skip
    headers = {}
    for k, v in ex.headers.items():
        if k.lower() == "x-api-key":
            v = key if v == "REDACTED" else v
        headers[k] = v
    data: Any = None
    if ex.json_body is not None:
        data = ids.to_ours(ex.json_body).encode()
    elif ex.form:
        form = aiohttp.FormData(default_to_multipart=True)  # as curl -F
        for name, value in ex.form:
            if value.startswith("@"):
                fname, _, ctype = value[1:].partition(";type=")
                form.add_field(name, FILES[fname], filename=fname, content_type=ctype or None)
            else:
                form.add_field(name, value)
        data = form
    async with session.request(
        ex.method, url + ids.to_ours(ex.path), headers=headers, data=data
    ) as resp:
        raw = await resp.read()
        return (
            resp.status,
            {k.lower(): v for k, v in resp.headers.items()},
            json.loads(raw) if raw else None,
        )


@pytest.fixture
async def live() -> Any:
    server = TestServer(ServerOptions(port=0))
    await server.start()
    async with aiohttp.ClientSession() as session:
        yield server, session
    await server.stop()


async def test_golden_exchanges_replay_identically(live: Any) -> None:
    """Every uploader-relevant golden exchange, in order on one server: same status, same body
    (key order included) but for ids and times, which differ between runs on the real server too."""
    server, session = live
    ids = IdMap()
    replayed = []
    for ex in exchanges():
        status, headers, body = await send(session, server.url, server.api_key, ex, ids)
        ids.learn(ex.body, body)
        assert status == ex.status, f"{ex.name}: status {status}, golden {ex.status}: {body}"
        assert json.dumps(ids.normalise(body)) == json.dumps(blank(ex.body)), ex.name
        assert headers["content-type"] == ex.response_headers["content-type"], ex.name
        assert headers["x-powered-by"] == "Express"
        if isinstance(body, dict) and "correlationId" in body:
            assert body["correlationId"] == headers["x-immich-cid"]
        replayed.append(ex.name)
    assert len(replayed) == 29


async def test_golden_responses_validate_against_openapi(live: Any) -> None:
    """Our bodies satisfy the 2.7.5 OpenAPI response schemas (and so do the golden ones)."""
    server, session = live
    ids = IdMap()
    checked = 0
    for ex in exchanges():
        _status, _, body = await send(session, server.url, server.api_key, ex, ids)
        ids.learn(ex.body, body)
        if ex.name in SCHEMAS:
            validator = openapi_validator(SCHEMAS[ex.name])
            validator.validate(ex.body)
            validator.validate(body)
            checked += 1
        if ex.name in ("15-album-add-assets-first", "16-album-add-assets-again"):
            openapi_validator("BulkIdResponseDto", many=True).validate(body)
            checked += 1
        if ex.name == "20-albums-list-after":
            openapi_validator("AlbumResponseDto", many=True).validate(body)
            checked += 1
    assert checked == len(SCHEMAS) + 3


async def test_other_bodies_validate_against_openapi(live: Any) -> None:
    server, session = live
    h = {"x-api-key": server.api_key}
    cases = [
        ("GET", "/api/server/about", None, "ServerAboutResponseDto"),
        ("GET", "/api/server/config", None, "ServerConfigDto"),
        ("GET", "/api/server/features", None, "ServerFeaturesDto"),
        ("GET", "/api/api-keys/me", None, "APIKeyResponseDto"),
        ("GET", "/api/assets/statistics", None, "AssetStatsResponseDto"),
        ("POST", "/api/search/metadata", {"size": 10}, "SearchResponseDto"),
    ]
    form = aiohttp.FormData()
    for k, v in [("deviceAssetId", "a"), ("deviceId", "b"), ("fileCreatedAt", "2024-05-01T12:00:00Z"), ("fileModifiedAt", "2024-05-01T12:00:00Z")]:  # fmt: skip
        form.add_field(k, v)
    form.add_field("assetData", FILES["screen1.png"], filename="s.png", content_type="image/png")
    async with session.post(server.url + "/api/assets", data=form, headers=h) as resp:
        asset_id = (await resp.json())["id"]
    async with session.post(server.url + "/api/albums", json={"albumName": "A", "assetIds": [asset_id]}, headers=h) as resp:  # fmt: skip
        album = await resp.json()
        assert resp.status == 201 and album["assetCount"] == 1 and len(album["assets"]) == 1
    cases += [
        ("GET", f"/api/assets/{asset_id}", None, "AssetResponseDto"),
        ("GET", f"/api/albums/{album['id']}", None, "AlbumResponseDto"),
    ]
    for method, path, payload, schema in cases:
        async with session.request(method, server.url + path, json=payload, headers=h) as resp:
            assert resp.status == 200, path
            openapi_validator(schema).validate(await resp.json())
    openapi_validator("AlbumResponseDto").validate(album)


def test_golden_data_is_copied_with_its_source() -> None:
    assert (DATA / "README.md").read_text().count("95e57a24cb11b4bcff39b770ae2d81443434c210") >= 1
    assert len(list((DATA / "golden").glob("*.txt"))) == 29
    assert Path(DATA / "openapi-2.7.5-subset.json").stat().st_size > 1000
