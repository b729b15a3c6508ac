"""The local side of a run: the history and the folder, read together, off the event loop.

Kept apart from the pipeline (and so from aiohttp) so that the CLI can start reading before the
HTTP machinery is even imported: an idle run over 100,000 files is mostly this.
"""

from __future__ import annotations

import gc
import threading
from concurrent.futures import Future

from .config import Config
from .files import ScanResult, scan
from .history import History


def read_local(config: Config) -> tuple[History, ScanResult]:
    """The history, then every file it does not already account for.

    The cyclic GC is paused meanwhile: 100,000 records and files are plain data without cycles,
    and the collections that building them triggers would cost a third of the time.
    """
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        history = History.load(config.history_file)
        if not config.dry_run:
            history.check_writable()  # before anything is sent that could not be recorded
        scanned = scan(
            config.folder,
            None,  # any type: the server's are not known yet (the pipeline filters them)
            recursive=config.recursive,
            settle_seconds=config.settle_seconds,
            include=config.include,
            exclude=config.exclude,
            skip=history.is_done,  # never opened, never even made into a LocalFile
        )
    finally:
        if gc_was_on:
            gc.enable()
    return history, scanned


def start_reading(config: Config) -> Future[tuple[History, ScanResult]]:
    """read_local in a thread of its own, started now; the pipeline collects the result."""
    future: Future[tuple[History, ScanResult]] = Future()

    def run() -> None:
        try:
            future.set_result(read_local(config))
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name="read-local", daemon=True).start()
    return future
