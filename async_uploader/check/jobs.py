"""``check``'s row of the server's jobs: what a backfill would do with them (IMMICH_PAUSE_JOBS).
Only looks: the list of queues, the key's permissions."""

from __future__ import annotations

from ..config import Config
from ..immich import ImmichClient, ImmichError, Kind
from ..limits import DEFAULT
from ..phases.jobs import HEAVY
from .rows import Level, Row


async def jobs_rows(config: Config, client: ImmichClient, perms: list[str] | None) -> list[Row]:
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
