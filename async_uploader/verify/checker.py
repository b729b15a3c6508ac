"""``async-uploader verify``: is everything the history says was sent still on the server?

Every record of an uploaded file (created, duplicate, or imported from the seed script's list) is
checked against the server: its bytes are still there (the bulk upload check by SHA-1, in the
sync's batches: a server that lost the asset answers ``accept``, golden 46e), not in the trash,
and in its album (the main one, or its folder's; each album's assets listed through ``POST
/search/metadata``, paged: in 2.x once per visibility, as 2.x lists the timeline's alone without
one). A record without a
checksum is hashed from the local file when that file is unchanged; one that cannot be hashed is
asked about by its asset id. ``--repair`` forgets what the server lost (the next sync uploads it
again) and links what is missing from the album, as the sync links. Never changes a local file;
never deletes on the server.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable

import anyio

from ..config import Config
from ..files import sha1_file
from ..immich import Album, BadAnswer, ImmichClient, open_session
from ..limits import DEFAULT, Limits
from ..outcomes import Outcome, RunReport
from ..phases.album import Target, folder_albums, link_pending
from ..phases.connect import Failover, connect_phase
from ..retry import RetryPolicy, with_retries
from ..store import History, Record
from ..text import counted
from .report import Finding, VerifyReport

log = logging.getLogger(__name__)

UPLOADED = frozenset({Outcome.CREATED.value, Outcome.DUPLICATE.value, Outcome.LEGACY.value})


class _Checker:
    """One pass over the history's uploaded records, batch by batch."""

    def __init__(
        self,
        client: ImmichClient,
        failover: Failover,
        config: Config,
        history: History,
        retry: RetryPolicy,
        report: VerifyReport,
        in_album: Callable[[str | None, str], bool],
    ) -> None:
        self.client = client
        self.failover = failover
        self.config = config
        self.history = history
        self.retry = retry
        self.report = report
        self.in_album = in_album
        self.hashing = anyio.CapacityLimiter(2)
        self.to_link: list[tuple[str, str]] = []  # (rel, asset id) on the server, not in album
        self.moved: dict[str, str] = {}  # rel -> the asset id the server has its bytes under

    def _local_sha1(self, rel: str, rec: Record) -> str | bool | None:
        """In a worker thread: the SHA-1 of the local file when it is as recorded; False when it
        changed since (the next sync sends it); None when it is gone or unreadable."""
        path = self.config.folder / rel
        try:
            st = os.stat(path, follow_symlinks=self.config.follow_symlinks)
            if rec.size is not None and (st.st_size, st.st_mtime_ns) != (rec.size, rec.mtime_ns):
                return False
            return sha1_file(path, follow_symlinks=self.config.follow_symlinks)
        except OSError:
            return None

    async def _hash_missing(self, batch: list[tuple[str, Record]]) -> dict[str, str | bool | None]:
        missing = [(rel, rec) for rel, rec in batch if not rec.sha1]

        def hash_all() -> list[str | bool | None]:
            return [self._local_sha1(rel, rec) for rel, rec in missing]

        if not missing:
            return {}
        results = await anyio.to_thread.run_sync(hash_all, limiter=self.hashing)
        return {rel: r for (rel, _), r in zip(missing, results, strict=True)}

    async def check(self, batch: list[tuple[str, Record]]) -> None:
        report = self.report
        local = await self._hash_missing(batch)
        by_sha: list[tuple[str, Record, str]] = []
        by_id: list[tuple[str, Record]] = []
        for rel, rec in batch:
            sha = rec.sha1 or local.get(rel)
            if sha is False:
                report.changed += 1
                continue
            if isinstance(sha, str):
                report.hashed += rel in local
                by_sha.append((rel, rec, sha))
            elif rec.asset_id:
                by_id.append((rel, rec))
            else:
                report.unchecked.append(Finding(rel, None, "a record from the seed script"))
        report.checked += len(by_sha) + len(by_id)
        if by_sha:
            items = [(str(i), sha) for i, (_, _, sha) in enumerate(by_sha)]
            known = await with_retries(
                self.retry,
                "bulk upload check",
                lambda: self.client.bulk_check(items),
                self.failover.recover,
            )
            for i, (rel, rec, _) in enumerate(by_sha):
                answer = known.get(str(i))
                if answer is None:
                    report.lost.append(
                        Finding(rel, rec.asset_id, "the server no longer has these bytes")
                    )
                else:
                    self._on_server(rel, rec, *answer)
        for rel, rec in by_id:
            assert rec.asset_id is not None
            trashed = await with_retries(
                self.retry,
                "asset",
                functools.partial(self.client.asset_trashed, rec.asset_id),
                self.failover.recover,
            )
            if trashed is None:
                report.lost.append(Finding(rel, rec.asset_id, "no such asset on the server"))
            else:
                self._on_server(rel, rec, rec.asset_id, trashed)

    def _on_server(self, rel: str, rec: Record, asset_id: str, trashed: bool) -> None:
        report = self.report
        if asset_id != rec.asset_id:
            self.moved[rel] = asset_id
        if trashed:
            report.trashed.append(Finding(rel, asset_id, "in the Immich trash"))
        elif not self.in_album(rec.album, asset_id):
            where = f"not in {rec.album!r}" if rec.album is not None else ""
            report.not_in_album.append(Finding(rel, asset_id, where))
            report.count(rec.album, "not_in_album")
            self.to_link.append((rel, asset_id))
        else:
            report.ok += 1
            report.count(rec.album, "ok")


async def _album_members(
    client: ImmichClient,
    failover: Failover,
    album: Album,
    retry: RetryPolicy,
    limits: Limits,
    ours: int,
) -> set[bytes]:
    """The album's asset ids (as 16 bytes each: a million of them in about 60 MB), of every
    visibility an API key can see. ``ours``: the history's uploaded records, which with the
    album's count (hidden assets are not in it, golden 49f) bound the pages a listing takes."""
    album_id = album.id
    page_size = limits.album_page
    # A listing that goes on past what the album's count and our own files need is broken.
    most = (album.asset_count + ours) // page_size + limits.extra_pages
    members: set[bytes] = set()
    for visibility in client.visibilities():
        page: int | None = 1
        pages = 0
        while page is not None:
            pages += 1
            if pages > most:
                raise _EndlessPages(
                    f"the album listing did not end after {most} pages ({album.asset_count} assets)"
                )
            number = page
            ids, page = await with_retries(
                retry,
                "album assets",
                functools.partial(client.album_page, album_id, number, page_size, visibility),
                failover.recover,
            )
            members.update(_key(i) for i in ids)
            if page is not None and page <= number:
                raise _EndlessPages(f"the album listing went from page {number} back to {page}")
    return members


class _EndlessPages(Exception):
    pass


def _key(asset_id: str) -> bytes:
    return bytes.fromhex(asset_id.replace("-", ""))


async def verify(
    config: Config, repair: bool, retry: RetryPolicy | None = None, limits: Limits = DEFAULT
) -> VerifyReport:
    """Check (and with ``repair`` mend) the history against the server; the caller holds the
    history's lock when repairing."""
    retry = retry or RetryPolicy(retries=config.retries, cap=config.retry_max_wait)
    report = VerifyReport(album=config.album, repair=repair)
    t0 = time.monotonic()
    history = History.open(config.history_file, readonly=not repair, repair=False)
    try:
        async with open_session(4, config.stall_timeout) as session:
            # The album is made only when repairing (an album deleted in Immich, say).
            connect = dataclasses.replace(config, dry_run=not repair)
            client, failover, _, album, _ = await connect_phase(
                session, connect, retry, RunReport()
            )
            report.server_url = client.base_url
            targets = [Target(None, album)] if album is not None else []
            if album is not None:
                report.album_id = album.id
            targets += await with_retries(
                retry,
                "albums",
                functools.partial(folder_albums, client, history, RunReport(), not repair),
                failover.recover,
            )
            ours = sum(1 for _, rec in history.rows() if rec.outcome in UPLOADED)
            members: dict[str | None, set[bytes]] = {}
            for target in targets:
                try:
                    members[target.name] = await _album_members(
                        client, failover, target.album, retry, limits, ours
                    )
                except _EndlessPages as exc:
                    raise BadAnswer("POST", "/api/search/metadata", str(exc)) from None
                log.info(
                    "album: %r: %s listed",
                    target.album.name,
                    counted(len(members[target.name]), "asset"),
                )
            checker = _Checker(
                client,
                failover,
                config,
                history,
                retry,
                report,
                lambda name, asset_id: _key(asset_id) in members.get(name, ()),
            )
            batch: list[tuple[str, Record]] = []
            for rel, rec in history.rows():
                if rec.outcome not in UPLOADED:
                    continue
                batch.append((rel, rec))
                if len(batch) == limits.check_batch:
                    await checker.check(batch)
                    batch = []
            if batch:
                await checker.check(batch)
            if repair:
                await _repair(client, failover, history, retry, limits, report, checker, targets)
    finally:
        history.close()
        report.duration_s = time.monotonic() - t0
    return report


async def _repair(
    client: ImmichClient,
    failover: Failover,
    history: History,
    retry: RetryPolicy,
    limits: Limits,
    report: VerifyReport,
    checker: _Checker,
    targets: list[Target],
) -> None:
    """Forget what the server lost, point records at the asset the server has their bytes
    under, and link what each album misses through the album phase (the sync's batches, and
    its handling of an asset the server lost meanwhile); one save at the end."""
    for f in report.lost:
        history.forget(f.file)
    report.forgotten = len(report.lost)
    moved = checker.moved
    missing = {rel for rel, _ in checker.to_link} if targets else set()
    for rel, rec in history.get_many([*moved, *missing]).items():
        rec = dataclasses.replace(rec, asset_id=moved.get(rel, rec.asset_id))
        if rel in missing:  # not in the album, whatever the record said: a pending link again
            outcome = Outcome.DUPLICATE.value if rec.outcome == Outcome.LEGACY.value else None
            rec = dataclasses.replace(rec, album_id=None, outcome=outcome or rec.outcome)
        history.record(rel, rec)
    links = RunReport()
    for target in targets:
        await link_pending(
            client, history, target.album.id, links, retry, limits, failover.recover, None, target
        )
    report.linked, report.link_failed = links.album_linked, links.link_failed
    history.save()
    log.info(
        "verify --repair: %s forgotten (the next sync sends them), %s linked",
        counted(report.forgotten, "file"),
        counted(report.linked, "file"),
    )
