"""``async-uploader check``: is this configuration usable? A table of what is fine, what is not,
and the fix for each. Changes nothing anywhere (no album is created)."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

import anyio

from .config import Config
from .errors import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
    HistoryError,
    UploaderError,
)
from .immich import (
    ApiError,
    AuthRejected,
    BadAnswer,
    ImmichClient,
    ImmichError,
    Kind,
    open_session,
    ping,
)
from .limits import DEFAULT
from .phases.connect import choose_server
from .phases.held import known_limit
from .phases.jobs import HEAVY
from .store import History, Meta, RunLock, describe, unwritable
from .text import counted

NEEDED = ("asset.upload", "album.read", "album.create", "albumAsset.create", "user.read")
KEY_FIX = (
    "in Immich: Account Settings > API Keys, create a key with asset.upload, album.read, "
    "album.create, albumAsset.create and user.read (or all), and put it in IMMICH_API_KEY"
)


class Level(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Row:
    item: str
    level: Level
    detail: str
    fix: str = ""


async def _url_rows(config: Config, session: Any) -> list[Row]:
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


async def _server_rows(config: Config, session: Any) -> list[Row]:
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
    rows += await _jobs_rows(config, client, perms)
    return rows


async def _jobs_rows(config: Config, client: ImmichClient, perms: list[str] | None) -> list[Row]:
    """What a backfill would do with the server's heavy jobs (IMMICH_PAUSE_JOBS): pause them
    with an admin's key (IMMICH_ADMIN_API_KEY, else the API key if it is one), or why not. Only
    looks (the list of queues, the key's permissions)."""
    mode = config.pause_jobs
    admin = config.admin_key is not None
    which = "the admin key" if admin else "the API key"
    when = (
        "a run that sends a file"
        if mode == "on"
        else f"a backfill ({DEFAULT.pause_from} files or more to send)"
    )
    if mode == "off":
        return [Row("pause jobs", Level.OK, "off (IMMICH_PAUSE_JOBS=off): jobs are left running")]
    try:
        major = (await client.version())[0]
        states = await client.queue_states()
        if admin:
            perms = await client.key_permissions(admin=True)
    except ImmichError as exc:
        refused = exc.kind in (Kind.FORBIDDEN, Kind.AUTH)
        if not refused:
            return [Row("pause jobs", Level.WARN, f"cannot list the queues: {exc.reason}")]
        if admin:
            return [
                Row(
                    "pause jobs",
                    Level.WARN,
                    "IMMICH_ADMIN_API_KEY was refused: runs upload with the jobs running",
                    "put an admin's key with queue.read and queue.update in IMMICH_ADMIN_API_KEY",
                )
            ]
        return [
            Row(
                "pause jobs",
                Level.WARN if mode == "on" else Level.OK,
                f"the API key is not an admin's: {when} leaves the server's jobs running",
                "IMMICH_ADMIN_API_KEY: an admin's key (queue.read, queue.update) lets it pause them",
            )
        ]
    update = "queue.update" if major >= 3 else "job.create"
    if perms is not None and "all" not in perms and update not in perms:
        return [
            Row(
                "pause jobs",
                Level.WARN,
                f"{which} is an admin's without {update}: {when} leaves the jobs running",
                f"give {which} {update}",
            )
        ]
    paused = [q for q in HEAVY if states.get(q) is True]
    running = [q for q in HEAVY if states.get(q) is False]
    now = f"; paused now: {', '.join(paused)} (left so)" if paused else ""
    return [
        Row(
            "pause jobs",
            Level.OK,
            f"{when} pauses {', '.join(running) or 'no queue'} with {which}, and resumes them "
            f"after{now}",
        )
    ]


def _local_rows(config: Config) -> list[Row]:
    rows = []
    try:
        count = sum(1 for e in config.folder.iterdir() if e.is_file())
        rows.append(
            Row("folder", Level.OK, f"{config.folder}: {counted(count, 'file')} at the top level")
        )
    except OSError as exc:
        rows.append(
            Row(
                "folder",
                Level.FAIL,
                f"{config.folder}: {exc.strerror}",
                "fix SCREENSHOTS_PATH or the folder's permissions",
            )
        )
    limit = known_limit(config, None)
    try:
        history = History.open(config.history_file, readonly=True, repair=False)
        try:
            recorded, where = history.count(), describe(history.path, history.journal)
            left_paused = history.meta(Meta.PAUSED_JOBS).get("queues") or []
            limit = known_limit(config, history)
        finally:
            history.close()
        if problem := unwritable(history.path):
            raise HistoryError(problem)
        rows.append(
            Row(
                "history",
                Level.OK,
                f"{config.history_file}: {counted(recorded, 'file')} recorded{where}",
            )
        )
        if left_paused and isinstance(left_paused, list):
            rows.append(
                Row(
                    "jobs left paused",
                    Level.WARN,
                    f"a run paused {', '.join(map(str, left_paused))} and could not resume them",
                    "the next run that reaches the server resumes them",
                )
            )
    except UploaderError as exc:
        rows.append(
            Row(
                "history",
                Level.FAIL,
                str(exc),
                "point IMMICH_HISTORY_FILE at a writable place; a run moves a corrupt one aside",
            )
        )
    if config.external_url:
        rows.append(Row("external limit", Level.OK, f"body limit {limit}"))
    held = RunLock.holder(config.history_file)  # only look: check creates nothing
    if held is not None:
        rows.append(Row("lock", Level.WARN, held, "a run is active now; that is fine"))
    return rows


async def run_check(config: Config) -> list[Row]:
    rows = [Row("configuration", Level.OK, f"from {config.env_file or 'the environment'}")]
    rows += [Row("configuration", Level.WARN, w) for w in config.warnings]
    rows += _local_rows(config)
    async with open_session(2, 30) as session:
        url_rows = await _url_rows(config, session)
        server_rows = await _server_rows(config, session)
    if server_rows[0].level is Level.OK:
        # A dead URL is worth knowing about, but a run works while another one answers.
        url_rows = [
            Row(r.item, Level.WARN, r.detail, r.fix) if r.level is Level.FAIL else r
            for r in url_rows
        ]
    return rows + url_rows + server_rows


def render(rows: list[Row]) -> str:
    width = max(len(r.item) for r in rows)
    out = []
    for r in rows:
        out.append(f"  {r.level.value:4}  {r.item:<{width}}  {r.detail}")
        if r.fix:
            out.append(f"  {'':4}  {'':<{width}}  fix: {r.fix}")
    fails = sum(r.level is Level.FAIL for r in rows)
    out.append("Usable: yes" if not fails else f"Usable: no ({fails} to fix)")
    return "\n".join(out)


def exit_code(rows: list[Row]) -> int:
    fails = [r for r in rows if r.level is Level.FAIL]
    if not fails:
        return EXIT_OK
    if any(r.item in ("server", "API key") for r in fails):
        return EXIT_UNREACHABLE
    if any(r.item == "configuration" for r in fails):
        return EXIT_CONFIG
    return EXIT_PARTIAL
