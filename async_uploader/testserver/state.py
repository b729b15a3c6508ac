"""What the emulated server holds: API keys, assets, albums, counters; optionally kept on disk.

With a data directory, every change is appended to ``journal.jsonl`` (replayed on start) and asset
files are kept under ``upload/``; without one, everything lives in memory and bodies are only hashed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SESSION = "\x00session"  # the name of the ApiKey that stands for a bearer token


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
class ApiKey:
    id: str
    name: str
    secret: str
    permissions: list[str]
    created_at: str
    admin: bool = False  # the admin's key (the queues and jobs need it), not the user's

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


class ServerState:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.sessions: dict[str, ApiKey] = {}  # bearer token -> its stand-in key
        self.paused_queues: set[str] = set()
        self.assets: dict[str, Asset] = {}
        self.by_checksum: dict[str, str] = {}
        self.albums: dict[str, Album] = {}
        self.stats = Stats()
        self.data_dir = data_dir
        self._journal: Any = None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            (data_dir / "upload").mkdir(exist_ok=True)
            (data_dir / "tmp").mkdir(exist_ok=True)
            self._replay(data_dir / "journal.jsonl")
            self._journal = open(data_dir / "journal.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    # -- persistence -------------------------------------------------------------------------
    def _log(self, kind: str, **data: Any) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps({"kind": kind, **data}, ensure_ascii=False) + "\n")
            self._journal.flush()

    def _replay(self, path: Path) -> None:
        if not path.exists():
            return
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    break  # a torn last line after a kill: everything before it stands
                kind = event.pop("kind")
                if kind == "key":
                    key = ApiKey(**event)
                    self.keys[key.secret] = key
                elif kind == "asset":
                    asset = Asset(**event)
                    self.assets[asset.id] = asset
                    self.by_checksum[asset.checksum] = asset.id
                elif kind == "album":
                    album = Album(**event)
                    self.albums[album.id] = album
                elif kind == "album-add":
                    album = self.albums[event["album_id"]]
                    album.asset_ids.extend(event["asset_ids"])
                    album.updated_at = event["at"]
                elif kind == "album-remove":
                    album = self.albums[event["album_id"]]
                    gone = set(event["asset_ids"])
                    album.asset_ids[:] = [a for a in album.asset_ids if a not in gone]
                    album.updated_at = event["at"]
                elif kind == "trash":
                    for asset_id in event["ids"]:
                        self.assets[asset_id].is_trashed = True
                elif kind == "delete":
                    for asset_id in event["ids"]:
                        self._forget(asset_id)
                elif kind == "queue":
                    (self.paused_queues.add if event["paused"] else self.paused_queues.discard)(
                        event["name"]
                    )

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def new_upload_path(self) -> Path | None:
        if self.data_dir is None:
            return None
        return self.data_dir / "tmp" / f"{uuid.uuid4()}.part"

    def asset_path(self, asset: Asset) -> Path | None:
        if self.data_dir is None:
            return None
        return (
            self.data_dir / "upload" / f"{asset.id}{Path(asset.original_file_name).suffix.lower()}"
        )

    # -- keys --------------------------------------------------------------------------------
    def create_session(self) -> str:
        """A login: a bearer token (kept in memory only; a restart logs everyone out)."""
        token = random_secret()
        self.sessions[token] = ApiKey(str(uuid.uuid4()), SESSION, token, ["all"], now_iso())
        return token

    def pause_queue(self, name: str, paused: bool) -> None:
        (self.paused_queues.add if paused else self.paused_queues.discard)(name)
        self._log("queue", name=name, paused=paused)

    def create_api_key(
        self,
        permissions: list[str] | None = None,
        name: str = "test",
        secret: str | None = None,
        admin: bool = False,
    ) -> ApiKey:
        key = ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            secret=secret or random_secret(),
            permissions=list(permissions or ["all"]),
            created_at=now_iso(),
            admin=admin,
        )
        self.keys[key.secret] = key
        self._log("key", **asdict(key))
        return key

    # -- assets ------------------------------------------------------------------------------
    def find_by_checksum(self, raw: bytes) -> Asset | None:
        asset_id = self.by_checksum.get(raw.hex())
        return self.assets.get(asset_id) if asset_id else None

    def add_asset(self, asset: Asset) -> None:
        self.assets[asset.id] = asset
        self.by_checksum[asset.checksum] = asset.id
        self._log("asset", **asdict(asset))

    def trash(self, ids: list[str]) -> None:
        for asset_id in ids:
            self.assets[asset_id].is_trashed = True
        self._log("trash", ids=ids)

    def delete(self, ids: list[str]) -> None:
        for asset_id in ids:
            asset = self.assets.get(asset_id)
            if asset is not None and (path := self.asset_path(asset)) is not None:
                path.unlink(missing_ok=True)
            self._forget(asset_id)
        self._log("delete", ids=ids)

    def _forget(self, asset_id: str) -> None:
        asset = self.assets.pop(asset_id, None)
        if asset is not None:
            self.by_checksum.pop(asset.checksum, None)
        for album in self.albums.values():
            if asset_id in album.asset_ids:
                album.asset_ids = [a for a in album.asset_ids if a != asset_id]

    # -- albums ------------------------------------------------------------------------------
    def create_album(self, name: str, description: str = "") -> Album:
        at = now_iso()
        album = Album(
            id=str(uuid.uuid4()), name=name, created_at=at, updated_at=at, description=description
        )
        self.albums[album.id] = album
        self._log("album", **asdict(album))
        return album

    def add_to_album(self, album: Album, ids: list[str]) -> None:
        if not ids:
            return
        album.asset_ids.extend(ids)
        album.updated_at = now_iso()
        self._log("album-add", album_id=album.id, asset_ids=ids, at=album.updated_at)

    def remove_from_album(self, album: Album, ids: list[str]) -> None:
        if not ids:
            return
        gone = set(ids)
        album.asset_ids[:] = [a for a in album.asset_ids if a not in gone]
        album.updated_at = now_iso()
        self._log("album-remove", album_id=album.id, asset_ids=ids, at=album.updated_at)

    def discard_tmp(self, path: Path | None) -> None:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
