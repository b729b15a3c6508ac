"""A file's final result, where it goes: the run's report, the history (the outcomes recorded
there), and one line of the log in the words each outcome has."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..outcomes import FileResult, Outcome, RunReport
from ..store import History, Record
from ..targets import album_for
from ..text import human_bytes

log = logging.getLogger("async_uploader.phases.upload")  # the per-file lines' own logger, as ever


@dataclass(frozen=True)
class Placement:
    """Where a run puts what it uploads or finds: the album of each file (IMMICH_FOLDER_ALBUMS)
    and the tags of each asset (IMMICH_TAGS, and the session tag)."""

    folder_albums: str = "off"
    tags: tuple[str, ...] = ()


def record_result(
    result: FileResult, history: History, report: RunReport, placement: Placement = Placement()
) -> None:
    f = result.file
    report.add(result)
    size = human_bytes(f.size)
    if result.outcome.recorded:
        history.record(
            f.rel,
            Record(
                size=f.size,
                mtime_ns=f.mtime_ns,
                outcome=result.outcome.value,
                asset_id=result.asset_id,
                sha1=result.sha1,
                message=result.message or None,
                album=album_for(f.rel, placement.folder_albums),
            ),
        )
        if (
            placement.tags
            and result.asset_id
            and result.outcome
            in (
                Outcome.CREATED,
                Outcome.DUPLICATE,
            )
        ):
            history.add_tags(result.asset_id, placement.tags)
    if result.outcome is Outcome.CREATED:
        log.info("created    %s (%s) -> %s", f.rel, size, result.asset_id)
    elif result.outcome is Outcome.DUPLICATE:
        log.info(
            "duplicate  %s (%s): already on the server as %s%s",
            f.rel,
            size,
            result.asset_id,
            result.message,
        )
    elif result.outcome is Outcome.REJECTED:
        log.warning("rejected   %s (%s): %s", f.rel, size, result.message)
    elif result.outcome is Outcome.FAILED:
        log.error("failed     %s (%s): %s", f.rel, size, result.message)
    elif result.outcome is Outcome.VANISHED:
        log.warning("vanished   %s: deleted before it could be sent; skipped", f.rel)
    elif result.outcome is Outcome.CHANGED:
        log.warning("changed    %s: %s; the next run sends it again", f.rel, result.message)
    elif result.outcome is Outcome.HELD:
        log.info("held       %s (%s): %s; waits for the local URL", f.rel, size, result.message)
    elif result.outcome is Outcome.EMPTY:
        log.warning(
            "empty      %s: 0 bytes, which Immich refuses; skipped until it has content", f.rel
        )
