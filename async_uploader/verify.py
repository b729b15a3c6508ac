"""``async-uploader verify``: is everything the history says was sent still on the server?

Every record of an uploaded file (created, duplicate, or imported from the seed script's list) is
checked against the server: its bytes are still there (the bulk upload check by SHA-1, 5,000 at a
time: a server that lost the asset answers ``accept``, golden 46e), not in the trash, and in the
album (its assets listed through ``POST /search/metadata``, paged). A record without a checksum
is hashed from the local file when that file is unchanged; one that cannot be hashed is asked about
by its asset id. ``--repair`` forgets what the server lost (the next sync uploads it again) and
links what is missing from the album. Never changes a local file; never deletes on the server.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from .config import Config
from .errors import EXIT_OK, EXIT_PARTIAL, BadAnswer
from .files import sha1_file, valid_utf8
from .immich import Album, ImmichClient, open_session
from .outcomes import Outcome, RunReport, counted
from .phases.connect import Failover, connect_phase
from .retry import RetryPolicy, with_retries
from .store import History, Record

log = logging.getLogger(__name__)

CHECK_BATCH = 5_000  # checksums per bulk upload check, as the sync's pre-check
PAGE = 1_000  # assets per page of the album listing: the most the server gives
EXTRA_PAGES = 10  # pages past what the album's asset count needs: then its listing never ends
LINK_BATCH = 10_000
UPLOADED = frozenset({Outcome.CREATED.value, Outcome.DUPLICATE.value, Outcome.LEGACY.value})
SHOWN = 20  # files listed per kind of problem in the table (--json lists them all)


@dataclass(frozen=True)
class Finding:
    file: str
    asset_id: str | None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "asset_id": self.asset_id, "detail": self.detail}


@dataclass
class VerifyReport:
    server_url: str = ""
    album: str = ""
    album_id: str | None = None
    checked: int = 0  # records of uploaded files
    ok: int = 0  # on the server, not in the trash, in the album
    lost: list[Finding] = field(default_factory=list)  # the server no longer has the bytes
    trashed: list[Finding] = field(default_factory=list)
    not_in_album: list[Finding] = field(default_factory=list)
    unchecked: list[Finding] = field(default_factory=list)  # nothing to check it by
    changed: int = 0  # changed locally since its upload: the next sync sends it, not ours
    hashed: int = 0  # local files hashed for records without a checksum
    repair: bool = False
    forgotten: int = 0  # repaired: the next sync uploads them again
    linked: int = 0  # repaired: added to the album
    link_failed: int = 0
    duration_s: float = 0.0

    @property
    def problems(self) -> int:
        return len(self.lost) + len(self.trashed) + len(self.not_in_album) + len(self.unchecked)

    @property
    def exit_code(self) -> int:
        """0 when all is well, or (with --repair) all that was wrong is repaired: what the server
        lost waits for the next sync, and the album is whole. 1 otherwise."""
        if not self.repair:
            return EXIT_OK if not self.problems else EXIT_PARTIAL
        left = len(self.trashed) + len(self.unchecked) + self.link_failed
        return EXIT_OK if not left else EXIT_PARTIAL

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "server_url": self.server_url,
            "album": self.album,
            "album_id": self.album_id,
            "checked": self.checked,
            "ok": self.ok,
            "lost": [f.to_json() for f in self.lost],
            "trashed": [f.to_json() for f in self.trashed],
            "not_in_album": [f.to_json() for f in self.not_in_album],
            "unchecked": [f.to_json() for f in self.unchecked],
            "changed_locally": self.changed,
            "hashed": self.hashed,
            "duration_s": round(self.duration_s, 3),
        }
        if self.repair:
            out["repaired"] = {
                "forgotten": self.forgotten,
                "linked": self.linked,
                "link_failed": self.link_failed,
            }
        return out

    def render(self) -> str:
        lines = [
            f"Verified {counted(self.checked, 'uploaded file')} against {self.server_url}, "
            f"album {self.album!r}, in {self.duration_s:.1f} s:"
        ]
        rows = [
            ("ok", self.ok, "on the server, not in the trash, in the album"),
            ("lost", len(self.lost), self._lost_fix()),
            (
                "in the trash",
                len(self.trashed),
                "restore them in Immich (Trash), or empty it "
                "and run verify --repair to send them again",
            ),
            ("not in album", len(self.not_in_album), self._album_fix()),
            (
                "not checked",
                len(self.unchecked),
                "no checksum, no asset id, and no local file to hash",
            ),
        ]
        for name, n, what in rows:
            if n or name == "ok":
                lines.append(f"  {name:<13} {n:>9,}  {what}")
        if self.changed:
            lines.append(
                f"  {counted(self.changed, 'file')} changed locally since its upload (the next "
                "sync sends the new content; not checked)"
            )
        for name, found in (
            ("Lost", self.lost),
            ("In the trash", self.trashed),
            ("Not in the album", self.not_in_album),
            ("Not checked", self.unchecked),
        ):
            if not found:
                continue
            lines.append(f"{name}:")
            for f in found[:SHOWN]:
                what = f" ({f.detail})" if f.detail else ""
                lines.append(f"  {valid_utf8(f.file)}{what}")
            if len(found) > SHOWN:
                lines.append(f"  ... and {len(found) - SHOWN} more (--json lists all)")
        if not self.problems:
            lines.append("All is well.")
        elif self.repair:
            left = len(self.trashed) + len(self.unchecked) + self.link_failed
            lines.append(
                f"{counted(self.problems, 'problem')} found; "
                + (
                    f"{left} left to you."
                    if left
                    else "all repaired"
                    + ("; the next sync uploads what was lost." if self.forgotten else ".")
                )
            )
        else:
            lines.append(f"{counted(self.problems, 'problem')} found.")
        return "\n".join(lines)

    def _lost_fix(self) -> str:
        if self.repair:
            return f"forgotten: the next sync uploads {counted(self.forgotten, 'file')} again"
        return "no longer on the server (--repair: the next sync uploads them again)"

    def _album_fix(self) -> str:
        if self.repair:
            failed = f", {self.link_failed} failed" if self.link_failed else ""
            return f"linked {self.linked}{failed}"
        return "on the server, missing from the album (--repair links them)"


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
        in_album: Callable[[str], bool],
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
        elif not self.in_album(asset_id):
            report.not_in_album.append(Finding(rel, asset_id))
            self.to_link.append((rel, asset_id))
        else:
            report.ok += 1


async def _album_members(
    client: ImmichClient, failover: Failover, album: Album, retry: RetryPolicy
) -> set[bytes]:
    """The album's asset ids (as 16 bytes each: a million of them in about 60 MB)."""
    album_id = album.id
    most = album.asset_count // PAGE + EXTRA_PAGES  # a listing that goes on past it is broken
    members: set[bytes] = set()
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
            functools.partial(client.album_page, album_id, number, PAGE),
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


async def verify(config: Config, repair: bool, retry: RetryPolicy | None = None) -> VerifyReport:
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
            client, failover, _, album = await connect_phase(session, connect, retry, RunReport())
            report.server_url = client.base_url
            members: set[bytes] = set()
            if album is not None:
                report.album_id = album.id
                try:
                    members = await _album_members(client, failover, album, retry)
                except _EndlessPages as exc:
                    raise BadAnswer("POST", "/api/search/metadata", str(exc)) from None
                log.info("album: %s listed", counted(len(members), "asset"))
            checker = _Checker(
                client,
                failover,
                config,
                history,
                retry,
                report,
                lambda asset_id: _key(asset_id) in members,
            )
            batch: list[tuple[str, Record]] = []
            for rel, rec in history.rows():
                if rec.outcome not in UPLOADED:
                    continue
                batch.append((rel, rec))
                if len(batch) == CHECK_BATCH:
                    await checker.check(batch)
                    batch = []
            if batch:
                await checker.check(batch)
            if repair:
                await _repair(client, failover, history, retry, report, checker, album)
    finally:
        history.close()
        report.duration_s = time.monotonic() - t0
    return report


async def _repair(
    client: ImmichClient,
    failover: Failover,
    history: History,
    retry: RetryPolicy,
    report: VerifyReport,
    checker: _Checker,
    album: Album | None,
) -> None:
    """Forget what the server lost, point records at the asset the server has their bytes
    under, link what the album misses; one save at the end."""
    for f in report.lost:
        history.forget(f.file)
    report.forgotten = len(report.lost)
    moved = checker.moved
    for rel, rec in history.get_many(list(moved)).items():
        history.record(rel, dataclasses.replace(rec, asset_id=moved[rel]))
    todo = checker.to_link if album is not None else []  # a repair makes a missing album
    for start in range(0, len(todo), LINK_BATCH):
        assert album is not None
        chunk = todo[start : start + LINK_BATCH]
        ids = list(dict.fromkeys(a for _, a in chunk))
        results = await with_retries(
            retry,
            "album add",
            functools.partial(client.add_to_album, album.id, ids),
            failover.recover,
        )
        linked = {r.asset_id for r in results if r.linked}
        done = [rel for rel, a in chunk if a in linked]
        report.linked += len(done)
        report.link_failed += len(chunk) - len(done)
        history.mark_linked(done, album.id)
    history.save()
    log.info(
        "verify --repair: %s forgotten (the next sync sends them), %s linked",
        counted(report.forgotten, "file"),
        counted(report.linked, "file"),
    )
