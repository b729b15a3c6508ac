"""``check``'s rows of this machine: the folder, the history, the lock. Only looks."""

from __future__ import annotations

from ..config import Config
from ..errors import HistoryError, UploaderError
from ..phases.held import known_limit
from ..store import History, Meta, RunLock, describe, unwritable
from ..text import counted
from .rows import Level, Row


def local_rows(config: Config) -> list[Row]:
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
