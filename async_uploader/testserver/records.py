"""What the emulated server holds, record by record: users, API keys, assets, albums, tags, and the
counters only the test server has. ``state.ServerState`` keeps them (and their journal)."""

from __future__ import annotations

import base64
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SESSION = "\x00session"  # the name of the ApiKey that stands for a bearer token
# The server's own user (data.USER, or data.USER_V3 in 3.x mode), whose key the tests are given:
# keys, assets, albums and tags with this owner are that user's.
OWN = ""
VISIBILITIES = ("archive", "timeline", "hidden", "locked")  # in the DTO's order


def random_secret(size: int = 32) -> str:
    """A key or token as Immich makes one (CryptoRepository.randomBytesAsText): base64 of random
    bytes with every non-word character removed, so only letters and digits. Never a leading "-"
    (a token_urlsafe one may start with it, and the official CLI then takes "-k -abc..." for an
    option: the flaky run of tests/test_official_cli.py)."""
    return "".join(c for c in base64.b64encode(os.urandom(size)).decode() if c.isalnum())


def now_iso() -> str:
    """The server's timestamp format: UTC, milliseconds, ``Z``."""
    return iso_ms(datetime.now(UTC))


def iso_ms(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def decode_checksum(value: str) -> bytes | None:
    """Immich's ``fromChecksum``: 28 characters are base64, anything else hex."""
    try:
        if len(value) == 28:
            return base64.b64decode(value, validate=True)
        return bytes.fromhex(value)
    except ValueError:
        return None


@dataclass
class User:
    """A user an admin made (POST /api/admin/users); the server's own user is not one of these."""

    id: str
    email: str
    name: str
    password: str
    created_at: str
    avatar_color: str = "primary"
    is_admin: bool = False


@dataclass
class ApiKey:
    id: str
    name: str
    secret: str
    permissions: list[str]
    created_at: str
    admin: bool = False  # the admin's key (the queues and jobs need it), not the user's
    user_id: str = OWN  # whose key (OWN: the server's own user)

    def allows(self, permission: str) -> bool:
        return "all" in self.permissions or permission in self.permissions

    @property
    def is_session(self) -> bool:
        """A login's bearer token, not an API key: it may do everything its user may."""
        return self.name == SESSION


@dataclass
class Asset:
    id: str
    checksum: str  # hex SHA-1 of the bytes
    original_file_name: str
    device_asset_id: str | None
    device_id: str | None
    file_created_at: str
    file_modified_at: str
    local_date_time: str
    time_zone: str | None
    size: int
    type: str  # IMAGE | VIDEO
    mime_type: str
    created_at: str
    updated_at: str
    is_favorite: bool = False
    visibility: str = "timeline"
    is_trashed: bool = False
    sidecar: str | None = None  # the XMP text, when one was sent
    fields: dict[str, str] = field(default_factory=dict)  # every text field as received
    width: int | None = None  # of a PNG, read from its header (what the thumbnail job learns)
    height: int | None = None
    file_id: str = ""  # Immich 3 names the stored file by an id of its own
    owner_id: str = OWN
    tag_ids: list[str] = field(default_factory=list)  # its own tags, in the order given

    @property
    def checksum_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.checksum)).decode()


@dataclass
class Album:
    id: str
    name: str
    created_at: str
    updated_at: str
    asset_ids: list[str] = field(default_factory=list)
    description: str = ""
    owner_id: str = OWN


@dataclass
class Tag:
    """A tag: ``value`` is its whole path ("a/b"), its name the last part; a tag whose value has
    a "/" has the tag of the rest as its parent."""

    id: str
    value: str
    created_at: str
    updated_at: str
    parent_id: str | None = None
    owner_id: str = OWN

    @property
    def name(self) -> str:
        return self.value.rsplit("/", 1)[-1]


@dataclass
class Stats:
    """Counters that tests and benchmarks read; the real server has none of these."""

    requests: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0  # request body bytes read, all routes
    upload_body_bytes: int = 0  # of which POST /api/assets
    uploads_with_checksum: int = 0  # uploads that came with an x-immich-checksum header
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    uploads_in_flight: int = 0
    max_uploads_in_flight: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "body_bytes": self.body_bytes,
            "upload_body_bytes": self.upload_body_bytes,
            "uploads_with_checksum": self.uploads_with_checksum,
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "uploads_in_flight": self.uploads_in_flight,
            "max_uploads_in_flight": self.max_uploads_in_flight,
            "faults": dict(self.faults),
        }
