"""What the emulated server holds (records.py): users, API keys, assets, albums, tags, paused
queues and counters; optionally kept on disk.

Every change is an event applied by one ``_on_<kind>`` method, whether it happens now or is read
back: with a data directory, each is appended to ``journal.jsonl`` and replayed on start, and asset
files are kept under ``upload/``; without one, everything lives in memory and bodies are only
hashed.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .records import (
    OWN,
    SESSION,
    Album,
    ApiKey,
    Asset,
    Stats,
    Tag,
    User,
    now_iso,
    random_secret,
)


class ServerState:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.users: dict[str, User] = {}  # those an admin made, by id
        self.keys: dict[str, ApiKey] = {}
        self.sessions: dict[str, ApiKey] = {}  # bearer token -> its stand-in key
        self.paused_queues: set[str] = set()
        self.assets: dict[str, Asset] = {}
        self.by_checksum: dict[tuple[str, str], str] = {}  # (owner, hex SHA-1) -> asset id
        self.albums: dict[str, Album] = {}
        self.tags: dict[str, Tag] = {}
        self.stats = Stats()
        self.data_dir = data_dir
        self._journal: Any = None
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            name.removeprefix("_on_").replace("_", "-"): getattr(self, name)
            for name in dir(self)
            if name.startswith("_on_")
        }
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            (data_dir / "upload").mkdir(exist_ok=True)
            (data_dir / "tmp").mkdir(exist_ok=True)
            self._replay(data_dir / "journal.jsonl")
            self._journal = open(data_dir / "journal.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    # -- events ------------------------------------------------------------------------------
    def _record(self, kind: str, **data: Any) -> None:
        """Apply a change and keep it in the journal, if there is one."""
        self._handlers[kind](dict(data))
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
                self._handlers[event.pop("kind")](event)

    def _on_user(self, e: dict[str, Any]) -> None:
        user = User(**e)
        self.users[user.id] = user

    def _on_key(self, e: dict[str, Any]) -> None:
        key = ApiKey(**e)
        self.keys[key.secret] = key

    def _on_asset(self, e: dict[str, Any]) -> None:
        asset = Asset(**e)
        self.assets[asset.id] = asset
        self.by_checksum[asset.owner_id, asset.checksum] = asset.id

    def _on_album(self, e: dict[str, Any]) -> None:
        album = Album(**e)
        self.albums[album.id] = album

    def _on_album_add(self, e: dict[str, Any]) -> None:
        album = self.albums[e["album_id"]]
        album.asset_ids.extend(e["asset_ids"])
        album.updated_at = e["at"]

    def _on_album_remove(self, e: dict[str, Any]) -> None:
        album = self.albums[e["album_id"]]
        gone = set(e["asset_ids"])
        album.asset_ids[:] = [a for a in album.asset_ids if a not in gone]
        album.updated_at = e["at"]

    def _on_trash(self, e: dict[str, Any]) -> None:
        for asset_id in e["ids"]:
            self.assets[asset_id].is_trashed = True

    def _on_delete(self, e: dict[str, Any]) -> None:
        for asset_id in e["ids"]:
            asset = self.assets.pop(asset_id, None)
            if asset is not None:
                self.by_checksum.pop((asset.owner_id, asset.checksum), None)
            for album in self.albums.values():
                if asset_id in album.asset_ids:
                    album.asset_ids = [a for a in album.asset_ids if a != asset_id]

    def _on_visibility(self, e: dict[str, Any]) -> None:
        for asset_id in e["ids"]:
            asset = self.assets[asset_id]
            asset.visibility = e["visibility"]
            asset.updated_at = e["at"]

    def _on_favorite(self, e: dict[str, Any]) -> None:
        for asset_id in e["ids"]:
            asset = self.assets[asset_id]
            asset.is_favorite = e["favorite"]
            asset.updated_at = e["at"]

    def _on_tag(self, e: dict[str, Any]) -> None:
        tag = Tag(**e)
        self.tags[tag.id] = tag

    def _on_tag_assets(self, e: dict[str, Any]) -> None:
        for asset_id in e["asset_ids"]:
            asset = self.assets[asset_id]
            if e["tag_id"] not in asset.tag_ids:
                asset.tag_ids.append(e["tag_id"])
                asset.updated_at = e["at"]

    def _on_untag(self, e: dict[str, Any]) -> None:
        for asset_id in e["asset_ids"]:
            asset = self.assets[asset_id]
            asset.tag_ids = [t for t in asset.tag_ids if t != e["tag_id"]]

    def _on_tag_delete(self, e: dict[str, Any]) -> None:
        gone = set(e["ids"])
        for tag_id in gone:
            self.tags.pop(tag_id, None)
        for asset in self.assets.values():
            if gone.intersection(asset.tag_ids):
                asset.tag_ids = [t for t in asset.tag_ids if t not in gone]

    def _on_queue(self, e: dict[str, Any]) -> None:
        (self.paused_queues.add if e["paused"] else self.paused_queues.discard)(e["name"])

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # -- files -------------------------------------------------------------------------------
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

    def discard_tmp(self, path: Path | None) -> None:
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # -- users and keys ----------------------------------------------------------------------
    def create_user(self, email: str, name: str, password: str, avatar_color: str) -> User:
        user = User(str(uuid.uuid4()), email, name, password, now_iso(), avatar_color)
        self._record("user", **asdict(user))
        return user

    def user_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email == email), None)

    def create_session(self, user_id: str = OWN) -> str:
        """A login: a bearer token (kept in memory only; a restart logs everyone out)."""
        token = random_secret()
        self.sessions[token] = ApiKey(
            str(uuid.uuid4()), SESSION, token, ["all"], now_iso(), user_id=user_id
        )
        return token

    def create_api_key(
        self,
        permissions: list[str] | None = None,
        name: str = "test",
        secret: str | None = None,
        admin: bool = False,
        user_id: str = OWN,
    ) -> ApiKey:
        key = ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            secret=secret or random_secret(),
            permissions=list(permissions or ["all"]),
            created_at=now_iso(),
            admin=admin,
            user_id=user_id,
        )
        self._record("key", **asdict(key))
        return self.keys[key.secret]

    def pause_queue(self, name: str, paused: bool) -> None:
        self._record("queue", name=name, paused=paused)

    # -- assets ------------------------------------------------------------------------------
    def find_by_checksum(self, raw: bytes, owner: str = OWN) -> Asset | None:
        """The owner's asset with that checksum, whatever its visibility, trashed or not."""
        asset_id = self.by_checksum.get((owner, raw.hex()))
        return self.assets.get(asset_id) if asset_id else None

    def owned(self, owner: str) -> Iterable[Asset]:
        return (a for a in self.assets.values() if a.owner_id == owner)

    def add_asset(self, asset: Asset) -> None:
        self._record("asset", **asdict(asset))

    def trash(self, ids: list[str]) -> None:
        self._record("trash", ids=ids)

    def delete(self, ids: list[str]) -> None:
        for asset_id in ids:
            asset = self.assets.get(asset_id)
            if asset is not None and (path := self.asset_path(asset)) is not None:
                path.unlink(missing_ok=True)
        self._record("delete", ids=ids)

    def set_visibility(self, ids: list[str], visibility: str) -> None:
        if ids:
            self._record("visibility", ids=ids, visibility=visibility, at=now_iso())

    def set_favorite(self, ids: list[str], favorite: bool) -> None:
        if ids:
            self._record("favorite", ids=ids, favorite=favorite, at=now_iso())

    # -- albums ------------------------------------------------------------------------------
    def create_album(self, name: str, description: str = "", owner: str = OWN) -> Album:
        at = now_iso()
        album = Album(
            id=str(uuid.uuid4()),
            name=name,
            created_at=at,
            updated_at=at,
            description=description,
            owner_id=owner,
        )
        self._record("album", **asdict(album))
        return self.albums[album.id]

    def add_to_album(self, album: Album, ids: list[str]) -> None:
        if ids:
            self._record("album-add", album_id=album.id, asset_ids=ids, at=now_iso())

    def remove_from_album(self, album: Album, ids: list[str]) -> None:
        if ids:
            self._record("album-remove", album_id=album.id, asset_ids=ids, at=now_iso())

    # -- tags --------------------------------------------------------------------------------
    def upsert_tag(self, value: str, owner: str = OWN) -> Tag:
        """The tag of that path, and each of its parents, made or touched (``PUT /api/tags``:
        a repeated upsert keeps the ids and moves ``updatedAt``, golden 47b)."""
        parent: Tag | None = None
        parts = [p for p in value.split("/") if p]
        for i in range(len(parts)):
            path = "/".join(parts[: i + 1])
            tag = self.tag_by_value(path, owner)
            at = now_iso()
            if tag is None:
                tag = Tag(str(uuid.uuid4()), path, at, at, parent.id if parent else None, owner)
            else:
                tag.updated_at = at
            self._record("tag", **asdict(tag))
            parent = self.tags[tag.id]
        assert parent is not None
        return parent

    def tag_by_value(self, value: str, owner: str = OWN) -> Tag | None:
        return next(
            (t for t in self.tags.values() if t.value == value and t.owner_id == owner), None
        )

    def tag_assets(self, tag: Tag, asset_ids: list[str]) -> list[str]:
        """Tag those assets; returns the ids that were not tagged with it before."""
        new = [a for a in dict.fromkeys(asset_ids) if tag.id not in self.assets[a].tag_ids]
        if new:
            self._record("tag-assets", tag_id=tag.id, asset_ids=new, at=now_iso())
        return new

    def untag_assets(self, tag: Tag, asset_ids: list[str]) -> None:
        if asset_ids:
            self._record("untag", tag_id=tag.id, asset_ids=asset_ids)

    def delete_tags(self, ids: list[str]) -> None:
        self._record("tag-delete", ids=ids)
