"""Fixtures: the test server on a free loopback port, a sample folder, strict counts. What else
the tests share is in ``support``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from async_uploader.testserver import ServerOptions, ServerThread

from .support import make_files


@pytest.fixture(autouse=True)
def strict_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run in the tests, in-process or a CLI subprocess, fails if its counts do not add
    up (scanned = done before + one final outcome each), instead of logging an error."""
    monkeypatch.setenv("ASYNC_UPLOADER_STRICT", "1")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp is asyncio-only


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerOptions(port=0)) as srv:
        yield srv


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "shots"
    make_files(folder, [f"Screenshot {i:02d}.png" for i in range(12)])
    return folder
