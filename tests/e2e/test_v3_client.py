"""The client speaks Immich 3 natively (issue 11): the server's major decides the fields sent,
v3 validation errors read as one reason, and --debug lines carry the correlation id."""

from __future__ import annotations

from pathlib import Path

import pytest

from async_uploader.config import Secret
from async_uploader.demo import png
from async_uploader.immich import ImmichClient, UploadRequest, open_session
from async_uploader.outcomes import Outcome
from async_uploader.testserver import ServerOptions, ServerThread

from ..support import cli_env, make_files, run_cli


@pytest.mark.anyio
async def test_a_v3_validation_error_is_one_readable_reason(tmp_path: Path) -> None:
    """A field the server refuses (an offset-less date, which 3.x refuses) comes back as
    "fileCreatedAt: ...", not the zod issue list as JSON."""
    path = tmp_path / "a.png"
    path.write_bytes(png(8, 8, 1))
    with ServerThread(ServerOptions(port=0, api_version=3)) as srv:
        async with open_session(2, 30) as session:
            client = ImmichClient(session, srv.url, Secret(srv.api_key))
            assert await client.version() == (3, 1, 0)
            req = UploadRequest(
                path=str(path),
                filename="a.png",
                size=path.stat().st_size,
                device_asset_id="a",
                device_id="d",
                file_created_at="2024-05-01T12:00:00",
                file_modified_at="2024-05-01T12:00:00Z",
            )
            answer = await client.upload(req)
    assert answer.outcome is Outcome.REJECTED
    assert answer.message == (
        "HTTP 400: fileCreatedAt: Invalid input: expected ISO 8601 datetime string, received string"
    )
    assert "{" not in answer.message and "pattern" not in answer.message


@pytest.mark.parametrize("api_version", [3, 2])  # X-Correlation-ID; x-immich-cid in 2.x
def test_debug_lines_carry_the_correlation_id(tmp_path: Path, api_version: int) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as srv:
        r = run_cli(["--debug"], cli_env(srv, folder), tmp_path)
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "immich_backup.log").read_text()
    lines = [line for line in log.splitlines() if "GET /api/albums -> 200" in line]
    assert lines and all("[cid " in line for line in lines), lines
    assert f"server: Immich {'3.1.0' if api_version == 3 else '2.7.5'}" in log


def test_server_version_flag_sets_what_the_server_says(tmp_path: Path) -> None:
    from async_uploader.cli import main

    with ServerThread(ServerOptions(port=0, api_version=3, server_version=(3, 2, 2))) as srv:
        folder = tmp_path / "shots"
        make_files(folder, ["a.png"])
        r = run_cli(["--debug"], cli_env(srv, folder), tmp_path)
        assert r.returncode == 0 and "server: Immich 3.2.2" in r.stderr
    assert main(["test-server", "--api-version", "3", "--server-version", "2.7.5"]) == 2
    assert main(["test-server", "--server-version", "three"]) == 2
