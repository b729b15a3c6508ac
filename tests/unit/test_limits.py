"""The limits: one frozen value whose every field some room reads (a limit nobody reads is a
number that lies), and which a test replaces whole instead of patching a module."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from async_uploader.limits import DEFAULT, Limits

PACKAGE = Path(__file__).resolve().parents[2] / "async_uploader"


def test_every_limit_is_read_somewhere() -> None:
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p.name != "limits.py")
    unread = [f.name for f in dataclasses.fields(Limits) if not re.search(rf"\.{f.name}\b", source)]
    assert unread == []


def test_limits_are_frozen_and_replaced_whole() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.link_batch = 1  # type: ignore[misc]
    small = Limits(link_batch=4, spill=25)
    assert (small.link_batch, small.spill, small.check_batch) == (4, 25, DEFAULT.check_batch)


def test_the_defaults_keep_their_reasons() -> None:
    """The sync and verify share one policy: a bulk check per 1,000 checksums, a link request
    per 2,000 ids; small first batches so the uploads start early."""
    assert (DEFAULT.check_batch, DEFAULT.link_batch, DEFAULT.first_check_batch) == (1000, 2000, 64)
    assert (
        DEFAULT.memory_links > DEFAULT.link_batch
        and DEFAULT.link_after_abort < DEFAULT.link_after_stop
    )
