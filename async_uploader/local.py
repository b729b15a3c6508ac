"""The local side of a run: the history and the folder, read before anything of the network.

Kept apart from the run (and so from aiohttp) so that the CLI can settle an idle run without
even importing the HTTP machinery: an idle run over 100,000 files is a directory scan and nothing
more. The server is asked only when there is something for it: a file the history does not
account for, or an album link still pending.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from .config import Config
from .errors import HistoryCorrupt
from .files import ScanResult, Walk, scan
from .limits import DEFAULT, Limits
from .outcomes import RunReport
from .shares import processes_for, scan_split
from .store import FACTS_KEY, History, Meta, read_last_run
from .targets import album_for
from .text import counted

log = logging.getLogger(__name__)
# What a run that contacted the server learnt is kept in the last run's record (``server_facts``,
# in the history's database), so that the next run can tell, without the server, that there is
# nothing to send: the URLs and album it was for, the album's id, and the file types the server
# accepts. Types are re-asked once a day when files of other types lie in the folder (a server
# upgrade may have started accepting them).
FACTS_MAX_AGE_S = 24 * 3600


def read_local(config: Config, limits: Limits = DEFAULT) -> tuple[History, ScanResult]:
    """The history, then every file it does not already account for.

    The cyclic GC is paused meanwhile: 100,000 records and files are plain data without cycles,
    and the collections that building them triggers would cost a third of the time.
    """
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        history = History.open(config.history_file, readonly=config.dry_run)
        try:
            unchanged = history.unchanged_check()  # left out by the scan: never opened
        except HistoryCorrupt as exc:  # a damaged page past the header: found only now
            history.close()
            if config.dry_run:
                raise
            history = History.afresh(history.path, exc.reason)
            unchanged = history.unchanged_check()
        retarget(config, history)
        window = None
        if config.since is not None or config.until is not None:
            from .window import DateWindow  # capture's patterns: only for a window

            window = DateWindow.of(config.since, config.until)
        walk = Walk(
            config.folder,
            None,  # any type: the server's are not known yet (the run keeps those it takes)
            recursive=config.recursive,
            settle_seconds=config.settle_seconds,
            include=config.include,
            exclude=config.exclude,
            skip=unchanged,
            window=window,
            follow_symlinks=config.follow_symlinks,
            spill=limits.spill,
        )
        processes = processes_for(
            history.settled_files,
            follow_symlinks=config.follow_symlinks,
            exact=history.settled_exact,
            threshold=limits.split_from,
        )
        scanned = scan_split(walk, processes) if processes > 1 else scan(walk)
    finally:
        if gc_was_on:
            gc.enable()
    return history, scanned


def warn_symlinks(scanned: ScanResult, report: RunReport) -> None:
    """One warning naming the symlinks the scan did not follow."""
    links = scanned.symlinks
    report.symlinks_skipped = len(links)
    if links:
        shown = ", ".join(links[:5]) + (f" and {len(links) - 5} more" if len(links) > 5 else "")
        log.warning(
            "scan: %d %s not followed: %s (--follow-symlinks, or IMMICH_FOLLOW_SYMLINKS=true, "
            "uploads what they point to)",
            len(links),
            "symlink" if len(links) == 1 else "symlinks",
            shown,
        )


def server_facts(
    config: Config,
    album_id: str,
    extensions: set[str] | frozenset[str],
    folder_albums: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "urls": [config.local_url, config.external_url],
        "album": config.album,
        "album_id": album_id,
        "folder_albums": folder_albums or {},  # name -> id of each folder album linked to
        "extensions": sorted(extensions),
        "checked_at": time.time(),
    }


def offline_report(
    config: Config, history: History, scanned: ScanResult
) -> tuple[RunReport, dict[str, Any]] | None:
    """The report of a run that has nothing for the server, with the remembered server facts
    that allowed it (kept for the next run), or None when the server is needed.

    Nothing for the server means: the last run that reached it was for the same URLs and album;
    no file outside the history is of a type it accepts (a file still being written is left for
    the next run either way); and every recorded asset is linked to the album.
    """
    facts = last_facts(history)
    if facts is None:
        return None
    try:
        if (
            facts["urls"] != [config.local_url, config.external_url]
            or facts["album"] != config.album
        ):
            return None
        album_id = str(facts["album_id"])
        accepted = frozenset(str(e) for e in facts["extensions"])
        age = time.time() - float(facts["checked_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if scanned.files and not 0 <= age < FACTS_MAX_AGE_S:
        return None  # files of other types: ask the server again what it takes, once a day
    kept = scanned.only(lambda ext: ext in accepted)
    if (
        kept.files
        or history.any_pending(album_id)
        or _folder_links_pending(config, history, facts)
        or history.any_tags_pending()
        or history.meta(Meta.PAUSED_JOBS).get("queues")
    ):
        return None  # new files, links or tags to make, or job queues a crashed run left paused
    report = RunReport(
        album_id=album_id,
        scanned=kept.unchanged,
        skipped_history=kept.unchanged,
        settling=len(kept.settling),
        outside_window=kept.outside_window,
        dry_run=config.dry_run,
        server_contacted=False,
    )
    return report, facts


def _folder_links_pending(config: Config, history: History, facts: dict[str, Any]) -> bool:
    """Whether a folder album lacks any of its files (or its records are for another mode, or
    the album is unknown yet): one pass over the targets index, only with folder albums."""
    mode = history.meta(Meta.FOLDER_ALBUMS).get("mode", "off")
    if mode != config.folder_albums:
        return True  # a dry run after the mode changed: the records' album names are stale
    if config.folder_albums == "off":
        return False
    known = facts.get("folder_albums")
    if not isinstance(known, dict):
        return True
    for name, linked in history.album_counts().items():
        if name is not None and set(linked) != {known.get(name)}:
            return True
    return False


def retarget(config: Config, history: History) -> None:
    """The records' album names made for this run's IMMICH_FOLDER_ALBUMS when it changed since
    the last run (not in a dry run, which writes nothing)."""
    mode = history.meta(Meta.FOLDER_ALBUMS).get("mode", "off")
    if mode == config.folder_albums or config.dry_run:
        return
    moved = history.retarget(lambda rel: album_for(rel, config.folder_albums))
    history.set_meta(Meta.FOLDER_ALBUMS, {"mode": config.folder_albums})
    history.save()
    if moved:
        log.info(
            "history: IMMICH_FOLDER_ALBUMS is %s now (was %s): %s in another album; this "
            "run links them there (they stay in the albums they are in)",
            config.folder_albums,
            mode,
            counted(moved, "file belongs", "files belong"),
        )


def last_facts(history: History) -> dict[str, Any] | None:
    facts = read_last_run(history).get(FACTS_KEY)
    return facts if isinstance(facts, dict) else None
