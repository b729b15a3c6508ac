"""The values the Immich calls answer with and take: plain frozen data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..outcomes import Outcome
from .errors import Kind


@dataclass(frozen=True)
class MediaTypes:
    image: frozenset[str]
    video: frozenset[str]

    def accepts(self, suffix: str) -> bool:
        s = suffix.lower()
        return s in self.image or s in self.video


@dataclass(frozen=True)
class Album:
    id: str
    name: str
    created_at: str
    asset_count: int


@dataclass(frozen=True)
class UploadAnswer:
    outcome: Outcome  # CREATED, DUPLICATE or REJECTED
    asset_id: str | None
    message: str = ""
    checksum: str | None = None  # hex SHA-1 of the bytes sent, when they were all read
    refusal: Kind | None = None  # REJECTED: what the refusal means (TOO_LARGE: a body limit)
    url: str = ""  # the base URL that answered


@dataclass(frozen=True)
class UploadRequest:
    path: str  # the file's full path
    filename: str
    size: int
    device_asset_id: str
    device_id: str
    file_created_at: str
    file_modified_at: str
    checksum: str | None = None  # sent as x-immich-checksum when known
    mtime_ns: int | None = None  # as scanned; a different one after sending means it changed
    sidecar: tuple[str, bytes] | None = None  # (name, XMP bytes) sent as sidecarData
    data: bytes | None = field(default=None, repr=False)  # a small file's bytes, already read
    follow_symlinks: bool = False  # else the file is opened only if it is no symlink
    visibility: str = "timeline"  # timeline, archive or hidden (never locked: config refuses it)


@dataclass(frozen=True)
class LinkResult:
    asset_id: str
    linked: bool  # in the album now (added, or already there)
    error: str | None


class FileChanged(Exception):
    """The file changed while it was being sent (its size, or its mtime once sent)."""

    def __init__(self, path: str, asset_id: str | None = None) -> None:
        super().__init__(path)
        self.asset_id = asset_id  # what the server made of the mixed bytes, if it answered
