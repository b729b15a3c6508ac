"""Waiting for the first of several things to happen (anyio has no such call of its own)."""

from __future__ import annotations

import anyio


async def first_of(*events: anyio.Event) -> None:
    """Returns once any of ``events`` is set."""
    if any(e.is_set() for e in events):
        return
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait, event)
