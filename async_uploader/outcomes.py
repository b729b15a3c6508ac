"""One vocabulary for what happened to a file: the run's report, the history and the log all say it
with ``Outcome``. Plain values, no I/O; and the end-of-run check that every file the scan offered
ends in exactly one final state."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .files import LocalFile
from .text import counted, human_bytes


class Outcome(enum.Enum):
    """The one final state of every file the scan offered for upload (the last two only ever
    in the history). The Immich client answers an upload with CREATED, DUPLICATE or REJECTED."""

    CREATED = "created"  # new on the server
    DUPLICATE = "duplicate"  # the server already had these bytes
    REJECTED = "rejected"  # the server refused it (4xx); final, not retried
    FAILED = "failed"  # retries exhausted, or the file could not be read
    VANISHED = "vanished"  # deleted between the scan and its upload
    CHANGED = "changed"  # modified while being sent; the next run sends the new content
    EMPTY = "empty"  # 0 bytes: Immich refuses it; left alone until it has content
    HELD = "held"  # too big for the external URL's proxy: the next run on the local URL sends it
    NOT_STARTED = "not-started"  # the run was stopped before its turn
    STALE = "stale"  # history only: the server lost the asset; the next run sends the file again
    LEGACY = "legacy"  # history only: imported from the seed script's list of names

    @property
    def recorded(self) -> bool:
        """Written to the history: the server's answer, or a 0-byte file left alone. The other
        outcomes leave no record, so the next run tries the file again."""
        return self in _RECORDED


_RECORDED = frozenset({Outcome.CREATED, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.EMPTY})


@dataclass(frozen=True)
class FileResult:
    file: LocalFile
    outcome: Outcome
    asset_id: str | None = None
    message: str = ""
    sha1: str | None = None


@dataclass
class RunReport:
    server_url: str | None = None
    album_id: str | None = None
    scanned: int = 0
    skipped_history: int = 0
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0
    vanished: int = 0
    changed: int = 0
    not_started: int = 0
    empty: int = 0
    held: int = 0  # too big for the external URL in use: waiting for the local one
    held_bytes: int = 0
    files_sent: int = 0  # files whose bytes went up and got the server's answer
    symlinks_skipped: int = 0
    settling: int = 0  # still being written: left for the next run
    album_linked: int = 0
    link_failed: int = 0
    # Folder albums: album name -> assets linked to it this run (the main album's too)
    albums_linked: dict[str, int] = field(default_factory=dict)
    outside_window: int = 0  # new files captured outside the date window: for a later run
    tagged: int = 0  # assets the tag requests of this run were answered for
    tags_pending: int = 0  # assets still to tag (the next run tries again)
    bytes_uploaded: int = 0
    duration_s: float = 0.0
    dry_run: bool = False
    would_upload: list[str] = field(default_factory=list)  # a dry run: what it would send
    would_link: int = 0  # a dry run: assets it would add to the album
    server_checked: bool = True  # a dry run: the server said which files it has (bulk check)
    problems: list[str] = field(default_factory=list)
    interrupted: bool = False
    server_contacted: bool = True  # False: nothing was new, the run did not need the server
    jobs_paused: list[str] = field(default_factory=list)  # the server's queues this run paused
    # Queues this run (or a crashed one) may have paused that are not confirmed running again:
    # the next run that reaches the server resumes them.
    jobs_left_paused: list[str] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        counter = {
            Outcome.CREATED: "created",
            Outcome.DUPLICATE: "duplicates",
            Outcome.REJECTED: "rejected",
            Outcome.FAILED: "failed",
            Outcome.VANISHED: "vanished",
            Outcome.CHANGED: "changed",
            Outcome.NOT_STARTED: "not_started",
            Outcome.EMPTY: "empty",
            Outcome.HELD: "held",
        }[result.outcome]
        setattr(self, counter, getattr(self, counter) + 1)
        if result.outcome is Outcome.HELD:
            self.held_bytes += result.file.size
        if result.outcome in (Outcome.REJECTED, Outcome.FAILED):
            self.problems.append(f"{result.outcome.value}: {result.file.rel}: {result.message}")

    @property
    def finished(self) -> int:
        return (
            self.created
            + self.duplicates
            + self.rejected
            + self.failed
            + self.vanished
            + self.changed
            + self.not_started
            + self.empty
            + self.held
        )

    def unaccounted(self) -> int:
        """Files the scan offered that have no final state (0 when the books balance): every
        scanned file is done already or ends in exactly one outcome."""
        return self.scanned - self.skipped_history - self.finished

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and self.failed == 0 and self.link_failed == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "server_url": self.server_url,
            "album_id": self.album_id,
            "scanned": self.scanned,
            "skipped_history": self.skipped_history,
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "failed": self.failed,
            "vanished": self.vanished,
            "changed": self.changed,
            "empty": self.empty,
            "held": self.held,
            "not_started": self.not_started,
            "symlinks_skipped": self.symlinks_skipped,
            "files_sent": self.files_sent,
            "album_linked": self.album_linked,
            "link_failed": self.link_failed,
            "albums_linked": self.albums_linked,
            "outside_window": self.outside_window,
            "tagged": self.tagged,
            "tags_pending": self.tags_pending,
            "bytes_uploaded": self.bytes_uploaded,
            "duration_s": round(self.duration_s, 3),
            "server_contacted": self.server_contacted,
            "interrupted": self.interrupted,
            "jobs_paused": self.jobs_paused,
            "jobs_left_paused": self.jobs_left_paused,
            **(
                {
                    "would_upload": len(self.would_upload),
                    "would_link": self.would_link,
                    "server_checked": self.server_checked,
                }
                if self.dry_run
                else {}
            ),
        }

    def summary(self) -> str:
        if self.dry_run:
            return (
                f"dry run: {self.scanned} scanned, {self.skipped_history} already done, would "
                f"upload {counted(len(self.would_upload), 'file')}, {self.duplicates} already on "
                f"the server, would link {counted(self.would_link, 'asset')}"
                + (f", would hold {self.held} for the local URL" if self.held else "")
                + "; nothing changed"
            )
        parts = [
            f"{self.scanned} scanned",
            f"{self.skipped_history} already done",
            f"{self.created} created",
            f"{self.duplicates} duplicates",
            f"{self.rejected} rejected",
            f"{self.failed} failed",
        ]
        if self.vanished:
            parts.append(f"{self.vanished} vanished")
        if self.changed:
            parts.append(f"{self.changed} changed while sent")
        if self.empty:
            parts.append(f"{self.empty} empty (skipped)")
        if self.held:
            parts.append(f"{self.held} held for the local URL ({human_bytes(self.held_bytes)})")
        if self.not_started:
            parts.append(f"{self.not_started} left for the next run")
        if self.outside_window:
            parts.append(f"{self.outside_window} outside the date window")
        if len(self.albums_linked) > 1:
            albums = counted(len(self.albums_linked), "album")
            parts.append(f"{self.album_linked} linked to {albums}")
        else:
            parts.append(f"{self.album_linked} linked to the album")
        if self.link_failed:
            parts.append(f"{self.link_failed} album links failed")
        if self.tagged or self.tags_pending:
            parts.append(f"{self.tagged} tagged")
        if self.tags_pending:
            parts.append(f"{self.tags_pending} left to tag")
        return (
            ", ".join(parts)
            + f"; {human_bytes(self.bytes_uploaded)} sent in {self.duration_s:.1f} s"
        )


class CountsDoNotAddUp(AssertionError):
    """A file the scan offered ended in no final state, or in two: a bug of ours."""


def check_counts(report: RunReport, strict: bool) -> str | None:
    """scanned = done before + one final outcome for each of the rest (as immich-go checks).
    Raises when ``strict`` (the test suite); else returns what is wrong, for the log."""
    if not report.unaccounted():
        return None
    message = (
        f"the counts do not add up: {report.scanned} scanned, {report.skipped_history} done "
        f"before, {report.finished} with an outcome"
    )
    if strict:
        raise CountsDoNotAddUp(message)
    return message
