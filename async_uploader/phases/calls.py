"""The Immich calls the phases make, as a Protocol: they depend on these few, not on the
concrete client (``immich.ImmichClient`` is one; a test may pass another)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..immich import Album, LinkResult, MediaTypes, UploadAnswer, UploadRequest


class ImmichCalls(Protocol):
    base_url: str

    def switch(self, base_url: str) -> None: ...

    async def check_key(self) -> object: ...

    async def version(self) -> tuple[int, int, int]: ...

    async def media_types(self) -> MediaTypes: ...

    async def list_albums(self) -> list[Album]: ...

    async def create_album(self, name: str) -> Album: ...

    async def add_to_album(self, album_id: str, asset_ids: list[str]) -> list[LinkResult]: ...

    async def bulk_check(self, items: list[tuple[str, str]]) -> dict[str, tuple[str, bool]]: ...

    async def upload(
        self, req: UploadRequest, on_bytes: Callable[[int], None] | None = None
    ) -> UploadAnswer: ...

    async def queue_states(self) -> dict[str, bool]: ...

    async def pause_queue(self, name: str, paused: bool) -> bool: ...
