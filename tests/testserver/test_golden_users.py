"""The test server answers cases 47 to 51 as the real 2.7.5 and 3.1.0 servers did: a user of its
own made by the admin (47-00a), its login and keys, then tags, visibility, albums by asset and the
queues, exchange by exchange, on a fresh server of each version (golden/README.md and
golden-v3/V3-DIFFERENCES.md, "Captured 2026-12-06", points 25 to 30)."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

from async_uploader.testserver import ServerOptions, TestServer

from .golden import GOLDEN, GOLDEN_V3, Exchange, exchanges, v3_files
from .test_golden import IdMap, blank, send

pytestmark = pytest.mark.anyio

# What the real server's background jobs or its random choices decide, blanked on both sides:
# the thumbhash (thumbnail job), the avatar colour (picked at random), and the stored file's name
# (an id no answer names otherwise).
JOB_VALUES = re.compile(r'"(thumbhash|avatarColor)": ("[^"]*"|null)')
FILE_PATH = re.compile(r"/data/upload/([0-9a-f-]{36})/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f-]{36}")
# The profile time of a new user is its creation time, shown with microseconds by PostgreSQL:
# what differs from run to run, as createdAt does.
PROFILE_TIME = re.compile(r'"profileChangedAt": "[^"]*"')


# An album made with several assets gets the first of them as its thumbnail, first in a set the
# database returns in no given order (album.service.ts, create: checkAccess(...)[0]): 2.7.5 took
# X of [X, Y] in 50b, 3.1.0 took Y. Ours takes the first given; in case 50 it is not compared.
THUMBNAIL = re.compile(r'"albumThumbnailAssetId": "[^"]*"')


def comparable(value: Any, case: str = "") -> str:
    text = JOB_VALUES.sub(lambda m: f'"{m.group(1)}": "<job>"', json.dumps(value))
    if case.startswith("50"):
        text = THUMBNAIL.sub('"albumThumbnailAssetId": "<first of a set>"', text)
    text = PROFILE_TIME.sub('"profileChangedAt": "<varies>"', text)
    return FILE_PATH.sub(r"/data/upload/\1/<file>", text)


def where_they_differ(ours: str, theirs: str) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
        min(len(ours), len(theirs)),
    )
    return f"ours ...{ours[max(0, at - 80) : at + 120]}\ntheirs ...{theirs[max(0, at - 80) : at + 120]}"


def key_for(ex: Exchange, keys: dict[str, str]) -> str:
    """The key each case was sent with (golden/README.md, "Captured 2026-12-06")."""
    name = ex.name
    if name.startswith("47-00a") or (name.startswith("51") and "non-admin" not in name):
        return keys["admin"]  # the admin makes the user; the admin's key pauses the queues
    if "limited-key" in name:
        return keys["limited"]
    if "tag-only-key" in name:
        return keys["tag-only"]
    return keys["user"]


@pytest.mark.parametrize("version", [2, 3])
async def test_user_cases_replay_identically(version: int) -> None:
    """Same status, same body and key order (ids and times mapped, secrets redacted, what jobs
    compute blanked), the version's content type and correlation-id header, for every one of
    cases 47 to 51; the later cases run with the keys the earlier ones made."""
    folder = GOLDEN if version == 2 else GOLDEN_V3
    cases = exchanges(folder, user_cases=True)
    server = TestServer(ServerOptions(port=0, api_version=version))
    await server.start()
    ids = IdMap()
    keys = {"admin": server.admin_key, "user": "", "limited": "", "tag-only": "", "token": ""}
    made = {"00c": "user", "00d": "limited", "00e": "tag-only"}
    cid = "x-immich-cid" if version == 2 else "x-correlation-id"
    replayed = []
    try:
        async with aiohttp.ClientSession() as session:
            for ex in cases:
                status, headers, body = await send(
                    session, server.url, key_for(ex, keys), ex, ids, keys["token"], v3_files()
                )
                assert status == ex.status, (
                    f"{ex.name}: status {status}, golden {ex.status}: {body}"
                )
                ids.learn(ex.body, body)
                if ex.name.startswith("47-00b"):
                    keys["token"] = body["accessToken"]
                elif ex.name[3:6] in made and ex.name.startswith("47-"):
                    keys[made[ex.name[3:6]]] = body["secret"]
                ours = comparable(ids.normalise(body), ex.name)
                theirs = comparable(blank(ex.body), ex.name)
                assert ours == theirs, f"{ex.name}: {where_they_differ(ours, theirs)}"
                if "content-type" in ex.response_headers:
                    assert headers["content-type"] == ex.response_headers["content-type"], ex.name
                assert len(headers[cid]) >= 8, ex.name
                replayed.append(ex.name)
    finally:
        await server.stop()
    assert len(replayed) == len(cases) == 83
