"""``async-uploader check``: is this configuration usable? A table of what is fine, what is not,
and the fix for each. Changes nothing anywhere (no album is created, no tag made, no ping sent).

    rows       a line of the table
    local      the folder, the history, the lock
    server     each URL, the server, the key, its permissions, the album
    jobs       what a backfill would do with the server's jobs
    placement  where uploads go: folder albums, visibility, tags, the date window, the ping
"""

from __future__ import annotations

from ..config import Config
from ..errors import EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, EXIT_UNREACHABLE
from ..immich import open_session
from .local import local_rows
from .placement import placement_rows
from .rows import Level, Row
from .server import server_rows, url_rows


async def run_check(config: Config) -> list[Row]:
    rows = [Row("configuration", Level.OK, f"from {config.env_file or 'the environment'}")]
    rows += [Row("configuration", Level.WARN, w) for w in config.warnings]
    rows += local_rows(config)
    rows += placement_rows(config)
    async with open_session(2, 30) as session:
        urls = await url_rows(config, session)
        server = await server_rows(config, session)
    if server[0].level is Level.OK:
        # A dead URL is worth knowing about, but a run works while another one answers.
        urls = [
            Row(r.item, Level.WARN, r.detail, r.fix) if r.level is Level.FAIL else r for r in urls
        ]
    return rows + urls + server


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
