"""One sync run, as a table of contents: lock, local side, connect, upload, link, save.

The phases (``phases/``) decide; the Immich client (``immich``) moves bytes. Nothing here sees a
URL path, header or status code: it gets values and the project's own exceptions.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

import anyio

from .config import MAX_CONCURRENCY, Config
from .control import Phase, RunControl, Signals
from .errors import HistoryError, UploaderError, plain_errors
from .files import FileList, LocalFile, ScanResult
from .immich import Album, ImmichClient, MediaTypes, Session, open_session
from .local import read_local, server_facts, warn_symlinks
from .outcomes import FileResult, Outcome, RunReport, check_counts
from .phases.album import Target, link_for_a_while
from .phases.connect import Failover, connect_phase
from .phases.held import BodyLimit
from .phases.jobs import JobPauser
from .phases.precheck import Precheck
from .phases.tags import tag_for_a_while
from .phases.upload import Uploader
from .phases.waiting import first_of
from .retry import RetryPolicy
from .store import History, save_last_run
from .text import counted, human_bytes

Local = tuple[History, ScanResult]

log = logging.getLogger(__name__)


class Connected(NamedTuple):
    """What the connect phase found: the client, its failover, the server's types, the album
    (None in a dry run when it does not exist yet)."""

    client: ImmichClient
    failover: Failover
    media: MediaTypes
    album: Album | None
    round_trip: float  # seconds: the fastest of the first requests


def _log_uploads(report: RunReport, seconds: float) -> None:
    """What the upload phase sent: only files whose bytes went up and were answered."""
    left = (
        f"; interrupted, {report.not_started} left for the next run" if report.interrupted else ""
    )
    log.info(
        "uploads: %s sent (%s) in %.2f s%s",
        counted(report.files_sent, "file"),
        human_bytes(report.bytes_uploaded),
        seconds,
        left,
    )


def _save(
    history: History,
    report: RunReport,
    config: Config,
    albums: list[Target],
    media: MediaTypes,
) -> HistoryError | None:
    """The records and the last run's record, in one transaction. The failure is returned, for
    the run to end with (and the CLI to say, once)."""
    main, *folders = albums
    ids = {t.name: t.album.id for t in folders if t.name is not None}
    facts = server_facts(config, main.album.id, media.image | media.video, ids)
    try:
        save_last_run(history, report, facts)
    except HistoryError as exc:
        return exc
    return None


async def sync(
    config: Config, control: RunControl | None = None, local: Local | None = None
) -> RunReport:
    """One whole run; its report. Raises UploaderError for what stops the run (once the uploads
    began, carrying the report of what was done: ``UploaderError.report``); per-file trouble is
    in the report. ``local``: the history and the scan, read already (the CLI reads them before
    it imports the HTTP side). The caller holds the history's lock (``cli.one_run_at_a_time``)."""
    control = control or RunControl()
    signals = control.signals or Signals()
    retry = control.retry or RetryPolicy(retries=config.retries, cap=config.retry_max_wait)
    report = RunReport(dry_run=config.dry_run)
    t0 = time.monotonic()
    try:
        streams = config.concurrency or MAX_CONCURRENCY  # auto: up to the most allowed
        async with open_session(streams, config.stall_timeout) as session:
            (history, scanned), server = await _local_and_connect(
                session, config, control, retry, report, local
            )
            try:
                todo = _take_stock(scanned, server.media, config, report)
                if config.dry_run:
                    return await _dry_run(todo, history, server, config, control, retry, report)
                await _upload_link_save(
                    todo, history, server, config, control, signals, retry, report
                )
            finally:
                history.close()
                scanned.files.close()
            if wrong := check_counts(report, control.strict):
                log.error("internal: %s (please report it)", wrong)
    except UploaderError as exc:
        if signals.phase is Phase.UPLOADING:
            exc.report = report  # what was done: the caller's summary says it
        raise
    finally:
        report.duration_s = time.monotonic() - t0
        signals.phase = Phase.PREPARING
    return report


async def _local_and_connect(
    session: Session,
    config: Config,
    control: RunControl,
    retry: RetryPolicy,
    report: RunReport,
    local: Local | None,
) -> tuple[Local, Connected]:
    """The history and the folder, read in a thread (unless the CLI has read them already,
    before importing aiohttp), while the health race and the first requests run."""
    found: list[Local] = [local] if local is not None else []

    async def in_thread() -> None:
        found.append(await anyio.to_thread.run_sync(read_local, config, control.limits))

    with plain_errors():
        async with anyio.create_task_group() as tg:
            if not found:
                tg.start_soon(in_thread)
            server = Connected(*await connect_phase(session, config, retry, report))
    return found[0], server


def _take_stock(
    everything: ScanResult, media: MediaTypes, config: Config, report: RunReport
) -> FileList:
    """The files of the types the server takes that the history does not account for; the
    scan's counts into the report, and its problems into the log."""
    scanned = everything.only(media.accepts)
    todo, unchanged = scanned.files, scanned.unchanged
    report.scanned = len(todo) + unchanged
    report.skipped_history = unchanged
    report.settling = len(scanned.settling)
    report.outside_window = scanned.outside_window
    for problem in scanned.errors:
        log.warning("scan: %s", problem)
    warn_symlinks(scanned, report)
    if scanned.settling:
        log.info(
            "scan: %s changed in the last %g s; left for the next run",
            counted(len(scanned.settling), "file"),
            config.settle_seconds,
        )
    if scanned.outside_window:
        log.info(
            "scan: %s captured outside the date window; left for a run whose window holds them",
            counted(scanned.outside_window, "new file"),
        )
    empty = len(todo.empties())
    log.info(
        "scan: %s, %d already done, %d new (%s)%s, %d of other types ignored",
        counted(report.scanned, "file"),
        unchanged,
        len(todo) - empty,
        human_bytes(todo.bytes),
        f", {empty} empty" if empty else "",
        len(scanned.unsupported),
    )
    return todo


async def _dry_run(
    todo: FileList,
    history: History,
    server: Connected,
    config: Config,
    control: RunControl,
    retry: RetryPolicy,
    report: RunReport,
) -> RunReport:
    """What a real run would send, link and skip, found as a real run finds it: the new files
    hashed and put to the server's bulk upload check (a read-only question). Nothing is uploaded,
    linked or written anywhere."""
    sendable = todo.nonempty()
    report.empty = len(todo) - len(sendable)
    found: list[FileResult] = []  # what the pre-check settled: on the server, vanished, unreadable
    limits = control.limits
    precheck = Precheck(
        server.client, config, history, retry, server.failover, found.append, lambda f: None, limits
    )
    send, receive = anyio.create_memory_object_stream[tuple[LocalFile, str | None]](
        max_buffer_size=limits.check_batch
    )
    would: list[LocalFile] = []
    with plain_errors():  # the key revoked meanwhile, say
        async with anyio.create_task_group() as tg:
            tg.start_soon(precheck.run, sendable, send, anyio.Event())
            async with receive:
                async for f, _ in receive:
                    would.append(f)
    for result in found:
        report.add(result)
    limit = BodyLimit(config, history)
    holds = {f.rel: why for f in would if (why := limit.holds(server.client.base_url, f.size))}
    for f in would:
        if f.rel in holds:
            report.add(FileResult(f, Outcome.HELD, message=holds[f.rel]))
            log.info(
                "would hold %s (%s) for the local URL: %s", f.rel, human_bytes(f.size), holds[f.rel]
            )
    would = [f for f in would if f.rel not in holds]
    report.would_upload = [f.rel for f in would]
    on_server = [r for r in found if r.outcome is Outcome.DUPLICATE]
    # Linked by a real run: what the server has already and what it would upload, and earlier
    # uploads still waiting for their link. An album that does not exist yet would get them all.
    pending = history.pending_count(server.album.id) if server.album else 0
    report.would_link = pending + len(on_server) + len(would)
    for f in todo.empties():
        log.info("would skip %s: empty", f.rel)
    for r in on_server:
        log.info("would link %s: already on the server as %s", r.file.rel, r.asset_id)
    for f in would:
        log.info("would upload %s (%s)", f.rel, human_bytes(f.size))
    report.server_checked = precheck.precheck
    checked = "" if precheck.precheck else " (the server could not be asked which it has)"
    log.info(
        "dry run: would upload %s (%s), %d already on the server%s, and link %s; nothing changed",
        counted(len(would), "file"),
        human_bytes(sum(f.size for f in would)),
        len(on_server),
        checked,
        counted(report.would_link, "asset"),
    )
    return report


async def _upload_link_save(
    todo: FileList,
    history: History,
    server: Connected,
    config: Config,
    control: RunControl,
    signals: Signals,
    retry: RetryPolicy,
    report: RunReport,
) -> None:
    """Upload, then link what was uploaded and save, whatever ended the uploads: shielded, so a
    second Ctrl-C cannot leave the history unsaved, and nothing the linking does (a hostile
    answer, a bug) can skip the save."""
    client, album = server.client, server.album
    assert album is not None
    history.check_writable()  # before anything is sent that could not be recorded
    start = time.monotonic()
    uploader = Uploader(
        client,
        config,
        history,
        report,
        control,
        signals,
        retry,
        server.failover,
        server.round_trip,
    )
    jobs = JobPauser(client, history, control.limits, control.said)
    signals.phase = Phase.UPLOADING  # from here on a stop means "finish up", never "cancel"
    try:
        await jobs.resume_left_over()  # a crashed run's
        if todo:
            try:
                with plain_errors():  # the key revoked mid-run, say
                    await _upload_pausing_jobs(todo, uploader, jobs, config)
            finally:
                uploader.close(todo)
                _log_uploads(report, time.monotonic() - start)
    finally:
        with anyio.CancelScope(shield=True):
            targets = [Target(None, album)]
            try:
                targets = await link_for_a_while(
                    client,
                    history,
                    album,
                    report,
                    retry,
                    control.limits,
                    signals,
                    server.failover,
                )
                if config.tags or history.any_tags_pending():
                    await tag_for_a_while(
                        client,
                        history,
                        report,
                        retry,
                        control.limits,
                        signals,
                        server.failover.recover,
                    )
            finally:
                try:
                    await jobs.resume()  # bounded (resume_patience); never in the save's way
                finally:
                    report.jobs_paused, report.jobs_left_paused = jobs.paused, jobs.recorded
                    report.server_url = client.base_url
                    save_error = _save(history, report, config, targets, server.media)
    for error in (uploader.history_error, save_error):
        if error is not None:
            raise error


async def _upload_pausing_jobs(
    todo: FileList, uploader: Uploader, jobs: JobPauser, config: Config
) -> None:
    """The uploads, with the server's heavy queues paused: for any file to send (``on``), or
    once the pre-check has found ``limits.pause_from`` files to send (``auto``, a backfill).
    When the scan found that many new files, the uploads wait for the pre-check's first batch
    (of that many files) and for the pause, so that the server makes no thumbnail meanwhile."""
    limits = uploader.limits
    async with anyio.create_task_group() as tg:
        if config.pause_jobs == "on" and todo.nonempty():
            await jobs.pause("uploading (IMMICH_PAUSE_JOBS=on)")
        elif config.pause_jobs == "auto":
            if len(todo.nonempty()) >= limits.pause_from:
                uploader.gate, uploader.first_batch = anyio.Event(), limits.pause_from

            async def when_a_backfill() -> None:
                try:
                    await first_of(uploader.backfill, uploader.checked)
                    if uploader.backfill.is_set():
                        many = counted(limits.pause_from, "file")
                        await jobs.pause(f"a backfill is uploading ({many} or more to send)")
                finally:
                    if uploader.gate is not None:
                        uploader.gate.set()

            tg.start_soon(when_a_backfill)
        await uploader.run(todo)
        tg.cancel_scope.cancel()  # a pause still waiting for its backfill: none came


__all__ = ["RunControl", "sync"]
