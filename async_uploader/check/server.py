"""``check``'s rows of the server: each URL, the server in use, the key and its permissions (to
upload, and to tag), the album. Only looks: no album is created."""

from __future__ import annotations

import time
from typing import Any

import anyio

from ..config import Config
from ..errors import UploaderError
from ..immich import (
    ApiError,
    AuthRejected,
    BadAnswer,
    ImmichClient,
    ImmichError,
    Kind,
    ping,
)
from ..phases.connect import choose_server
from ..text import counted
from .jobs import jobs_rows
from .placement import tag_rows
from .rows import Level, Row

NEEDED = ("asset.upload", "album.read", "album.create", "albumAsset.create", "user.read")
KEY_FIX = (
    "in Immich: Account Settings > API Keys, create a key with asset.upload, album.read, "
    "album.create, albumAsset.create and user.read (or all), and put it in IMMICH_API_KEY"
)


async def url_rows(config: Config, session: Any) -> list[Row]:
    rows = []
    for role, url, timeout in config.urls:
        t0 = time.monotonic()
        try:
            with anyio.fail_after(max(timeout, 5.0)):
                await ping(session, url)
                major, minor, patch = await ImmichClient(session, url, config.api_key).version()
            ms = (time.monotonic() - t0) * 1000
            tls = ", TLS ok" if url.startswith("https://") else ""
            slow = ms > timeout * 1000
            rows.append(
                Row(
                    f"{role} URL",
                    Level.WARN if slow else Level.OK,
                    f"{url}: Immich v{major}.{minor}.{patch}, {ms:.0f} ms{tls}",
                    f"it answered slower than IMMICH_{role.upper()}_TIMEOUT ({timeout:g} s)"
                    if slow
                    else "",
                )
            )
        except TimeoutError:
            rows.append(
                Row(
                    f"{role} URL",
                    Level.FAIL,
                    f"{url}: timed out",
                    "check the address, and that this machine can reach it",
                )
            )
        except UploaderError as exc:  # refused, reset, a redirect, an answer not Immich's
            reason = exc.reason if isinstance(exc, ImmichError) else str(exc)
            fix = (
                "check the certificate (a self-signed one needs the LAN http:// address)"
                if isinstance(exc, ImmichError) and exc.kind is Kind.TLS
                else "check the address and that the server is running"
            )
            rows.append(Row(f"{role} URL", Level.FAIL, f"{url}: {reason}", fix))
    return rows


async def server_rows(config: Config, session: Any) -> list[Row]:
    try:
        base = await choose_server(session, config.urls)
    except UploaderError:
        return [Row("server", Level.FAIL, "no configured URL answers", "see the URL rows above")]
    client = ImmichClient(session, base, config.api_key, admin_key=config.admin_key)
    rows = [Row("server", Level.OK, f"a run would use {base}")]
    try:
        if await client.maintenance_mode():
            rows.append(
                Row(
                    "server mode",
                    Level.FAIL,
                    "the server is in maintenance mode",
                    "wait for the administrator to end it",
                )
            )
    except UploaderError:
        pass  # older servers: no maintenanceMode
    try:
        me = await client.check_key()
        rows.append(Row("API key", Level.OK, f"accepted, user {me.get('email', '?')}"))
    except AuthRejected as exc:
        rows.append(Row("API key", Level.FAIL, str(exc), KEY_FIX))
        return rows
    except UploaderError as exc:  # not a verdict on the key: the server answered something else
        rows.append(Row("server", Level.FAIL, str(exc), "check the URL and what answers there"))
        return rows
    missing: list[str] = []
    perms: list[str] | None = None
    try:
        perms = await client.key_permissions()
        missing = [] if "all" in perms else [p for p in NEEDED if p not in perms]
    except (ApiError, BadAnswer) as exc:
        reason = exc.reason
        rows.append(
            Row(
                "permissions",
                Level.WARN,
                f"cannot list them ({reason}); servers before 1.139 cannot",
                "",
            )
        )
    albums: list[Any] | None = None
    try:
        albums = [a for a in await client.list_albums() if a.name == config.album]
    except UploaderError as exc:
        reason = exc.message if isinstance(exc, ApiError) else str(exc)
        rows.append(Row("album", Level.FAIL, f"cannot list albums: {reason}", KEY_FIX))
    if albums is not None:
        if albums:
            oldest = min(albums, key=lambda a: a.created_at)
            extra = (
                f" ({len(albums)} share the name: the oldest is used)" if len(albums) > 1 else ""
            )
            rows.append(
                Row(
                    "album",
                    Level.WARN if extra else Level.OK,
                    f"{config.album!r} exists, {counted(oldest.asset_count, 'asset')}{extra}",
                    "rename the others in Immich" if extra else "",
                )
            )
        else:
            if "album.create" in missing:
                rows.append(
                    Row(
                        "album",
                        Level.FAIL,
                        f"{config.album!r} does not exist, and the key may not create it",
                        KEY_FIX,
                    )
                )
            else:
                rows.append(
                    Row(
                        "album",
                        Level.OK,
                        f"{config.album!r} does not exist yet; the first run creates it",
                    )
                )
    if albums and "album.create" in missing:
        missing.remove("album.create")  # not needed while the album exists
        rows.append(
            Row(
                "permissions",
                Level.WARN,
                "the key lacks album.create (needed only if the album is deleted)",
                KEY_FIX,
            )
        )
    if missing:
        rows.append(Row("permissions", Level.FAIL, "the key lacks " + ", ".join(missing), KEY_FIX))
    elif not any(r.item == "permissions" for r in rows):
        rows.append(Row("permissions", Level.OK, "the key has every permission a run needs"))
    rows += tag_rows(config, perms)
    rows += await jobs_rows(config, client, perms)
    return rows
