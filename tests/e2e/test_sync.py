"""The real CLI against the test server over loopback: each step of a run and each failure."""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

import anyio
import pytest

from async_uploader.config import Config, Secret, load_config
from async_uploader.retry import RetryPolicy
from async_uploader.run import RunControl, sync
from async_uploader.testserver import ServerOptions, ServerThread, Shaping

from ..support import (
    HISTORY,
    OLD,
    cli_env,
    history_integrity,
    history_records,
    make_files,
    run_cli,
    start_cli,
    wait_created,
    wait_until_async,
)

JSON_KEYS = {
    "server_url",
    "album_id",
    "scanned",
    "skipped_history",
    "created",
    "duplicates",
    "rejected",
    "failed",
    "vanished",
    "changed",
    "empty",
    "held",
    "not_started",
    "symlinks_skipped",
    "files_sent",
    "album_linked",
    "link_failed",
    "bytes_uploaded",
    "duration_s",
    "server_contacted",
    "interrupted",
    "jobs_paused",
    "jobs_left_paused",
    "exit_code",
    "albums_linked",
    "outside_window",
    "tagged",
    "tags_pending",
}


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def album_state(srv: ServerThread) -> list[tuple[str, int]]:
    return srv.call(lambda s: [(a.name, len(a.asset_ids)) for a in s.state.albums.values()])


def test_first_run_uploads_all_and_second_run_nothing(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    env = cli_env(server, shots)
    first = run_cli(["--json"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert set(summary) == JSON_KEYS
    assert (summary["created"], summary["album_linked"], summary["scanned"]) == (12, 12, 12)
    assert album_state(server) == [("Screens", 12)]
    history = history_records(tmp_path / "immich_upload_history.json")
    assert len(history) == 12
    rec = history["Screenshot 00.png"]
    assert (
        rec["outcome"] == "created"
        and rec["album_id"] == summary["album_id"]
        and len(str(rec["sha1"])) == 40
    )
    assert (tmp_path / "immich_backup.log").read_text().count("created    ") == 12
    uploads = server.stats()["requests"]["POST /api/assets"]
    second = run_cli(["--json"], env, tmp_path)
    assert second.returncode == 0
    again = json.loads(second.stdout)
    assert (again["created"], again["skipped_history"]) == (0, 12)
    assert server.stats()["requests"]["POST /api/assets"] == uploads


@pytest.mark.parametrize("api_version", [2, 3])
def test_times_and_fields_sent(tmp_path: Path, api_version: int) -> None:
    """Each server gets the fields its version defines: 2.x requires deviceAssetId and
    deviceId, 3.x has no such fields, so none are sent to it (asserted on what it received)."""
    folder = tmp_path / "f"
    make_files(folder, ["a.png"])
    with ServerThread(ServerOptions(port=0, api_version=api_version)) as server:
        assert run_cli([], cli_env(server, folder), tmp_path).returncode == 0
        asset = server.call(lambda s: next(iter(s.state.assets.values())))
    assert asset.fields["fileModifiedAt"] == "2024-05-01T12:00:00.000Z"
    assert asset.fields["fileCreatedAt"] == "2024-05-01T12:00:00.000Z"  # no birth time on Linux
    assert asset.fields["filename"] == "a.png"
    if api_version == 2:
        assert asset.device_asset_id == f"a.png-{asset.size}"
        assert list(asset.fields)[:5] == [
            "deviceAssetId",
            "deviceId",
            "fileCreatedAt",
            "fileModifiedAt",
            "filename",
        ]
    else:
        assert "deviceAssetId" not in asset.fields and "deviceId" not in asset.fields
        assert list(asset.fields)[:3] == ["fileCreatedAt", "fileModifiedAt", "filename"]


def test_odd_names_are_stored_exactly(server: ServerThread, tmp_path: Path) -> None:
    names = [
        "with space.png",
        "Écran é.png",
        "e\u0301cole.png",
        "日本語 😀.png",
        'quote"semi;.png',
        "back\\slash.png",
        " lead.png",
    ]
    folder = tmp_path / "odd"
    make_files(folder, names)
    result = run_cli([], cli_env(server, folder), tmp_path)
    assert result.returncode == 0, result.stderr
    stored = server.call(lambda s: sorted(a.original_file_name for a in s.state.assets.values()))
    assert stored == sorted(names)


@pytest.mark.parametrize(
    ("local", "external", "winner"),
    [
        ("dead", "up", "external"),  # the laptop away from home
        ("up", "dead", "local"),
        ("up", "up", "local"),  # both answer: the LAN address is preferred
        ("slow", "up", "external"),  # the LAN address past its timeout loses
    ],
)
def test_the_health_race_picks_the_url_that_answers_local_first(
    shots: Path, tmp_path: Path, local: str, external: str, winner: str
) -> None:
    """Both URLs pinged at once: the local one wins if it answers within its timeout, the
    external one otherwise; every upload goes to the winner, none to the other."""
    slow = Shaping(latency_ms=1500)
    with (
        ServerThread(
            ServerOptions(port=0, api_key="k", shaping=slow if local == "slow" else None)
        ) as lan,
        ServerThread(ServerOptions(port=0, api_key="k")) as public,
    ):
        urls = {
            "local": dead_url() if local == "dead" else lan.url,
            "external": dead_url() if external == "dead" else public.url + "/api/",
        }
        env = cli_env(
            lan,
            shots,
            IMMICH_LOCAL_URL=urls["local"],
            IMMICH_EXTERNAL_URL=urls["external"],
            IMMICH_LOCAL_TIMEOUT="0.3" if local == "slow" else "1.5",
        )
        result = run_cli(["--json"], env, tmp_path)
        assert result.returncode == 0, result.stderr
        chosen, other = (lan, public) if winner == "local" else (public, lan)
        assert json.loads(result.stdout)["server_url"] == chosen.url
        assert f"({winner})" in result.stderr
        assert album_state(chosen) == [("Screens", 12)]
        assert other.stats()["requests"].get("POST /api/assets", 0) == 0


def test_both_down_exits_3_naming_each_url(shots: Path, tmp_path: Path) -> None:
    local, external = dead_url(), dead_url()
    env = cli_env(
        None, shots, IMMICH_API_KEY="k", IMMICH_LOCAL_URL=local, IMMICH_EXTERNAL_URL=external
    )
    result = run_cli([], env, tmp_path)
    assert result.returncode == 3
    line = result.stderr.strip().splitlines()[-1]
    assert local in line and external in line and "connection refused" in line


def test_a_rejected_key_exits_3_unshown(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    bad = "not-the-key-" + "x" * 20
    env = cli_env(server, shots, IMMICH_API_KEY=bad)
    result = run_cli(["--debug"], env, tmp_path)
    assert result.returncode == 3
    assert f"API key rejected by {server.url}" in result.stderr
    everything = result.stdout + result.stderr + (tmp_path / "immich_backup.log").read_text()
    assert bad not in everything


def test_key_appears_in_no_output_and_no_log_at_any_level(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    env = cli_env(server, shots)
    outputs = []
    for flags in (["--debug"], [], ["--quiet"], ["--json", "--debug"]):
        r = run_cli(flags, env, tmp_path)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout + r.stderr)
    server.call(lambda s: s.script_status("album-add", 500))
    r = run_cli(["--debug"], cli_env(server, shots, IMMICH_RETRIES="0"), tmp_path)
    outputs.append(r.stdout + r.stderr)
    logs = "".join(p.read_text() for p in tmp_path.glob("immich_backup.log*"))
    assert "DEBUG" in logs and "POST /api/assets" in logs
    for text in [*outputs, logs]:
        assert server.api_key not in text


def test_missing_variable_and_folder_exit_2(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    env = cli_env(server, shots)
    del env["IMMICH_API_KEY"]
    r = run_cli([], env, tmp_path)
    assert r.returncode == 2 and "IMMICH_API_KEY" in r.stderr
    r = run_cli([], cli_env(server, tmp_path / "nope"), tmp_path)
    assert r.returncode == 2 and "SCREENSHOTS_PATH" in r.stderr and "nope" in r.stderr
    for bad in ("lots", "0", "65", "2.5", "\u00b2"):  # "²" is a digit to str.isdigit
        r = run_cli([], cli_env(server, shots, IMMICH_CONCURRENCY=bad), tmp_path)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.strip().splitlines() == [
            f"async-uploader: error: IMMICH_CONCURRENCY must be auto or a whole number from 1 "
            f"to 64, not {bad!r}"
        ]
    r = run_cli(["--bogus"], cli_env(server, shots), tmp_path)
    assert r.returncode == 2 and "--bogus" in r.stderr
    assert server.stats()["requests"].get("POST /api/assets", 0) == 0


def test_existing_album_used_and_oldest_of_duplicates(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    def make(s):  # type: ignore[no-untyped-def]
        older = s.state.create_album("Screens")
        older.created_at = "2020-01-01T00:00:00.000Z"
        s.state.create_album("Screens")
        return older.id

    older_id = server.call(make)
    r = run_cli(["--json"], cli_env(server, shots), tmp_path)
    assert json.loads(r.stdout)["album_id"] == older_id
    assert "2 albums are named 'Screens'" in r.stderr
    assert sorted(album_state(server)) == [("Screens", 0), ("Screens", 12)]


def test_rejected_file_exit_1_named_in_log(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    (shots / "notes.txt").write_text("not media")  # another type: left alone, not rejected
    server.call(lambda s: s.script_status("upload", 413, message="Request Entity Too Large"))
    r = run_cli(["--json", "--concurrency", "1"], cli_env(server, shots), tmp_path)
    assert r.returncode == 1
    summary = json.loads(r.stdout)
    assert (summary["rejected"], summary["created"]) == (1, 11)
    log = (tmp_path / "immich_backup.log").read_text()
    assert "rejected   Screenshot 00.png" in log and "413" in log


def test_server_errors_are_retried(shots: Path, tmp_path: Path) -> None:
    # Seeded: the draws, and so the number of 500s over the run, are the same every time.
    with ServerThread(ServerOptions(port=0, seed=3, shaping=Shaping(fail_rate=0.3))) as server:
        env = cli_env(server, shots, IMMICH_RETRIES="10", IMMICH_RETRY_MAX_WAIT="0.2")
        r = run_cli(["--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert server.stats()["faults"]["fail"] >= 2
        assert album_state(server) == [("Screens", 12)]
        assert server.call(lambda s: len(s.state.assets)) == 12


def test_corrupt_history_moved_aside(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    garbage = b"this is not a database" * 300
    (tmp_path / HISTORY).write_bytes(garbage)
    r = run_cli([], cli_env(server, shots), tmp_path)
    assert r.returncode == 0, r.stderr
    aside = list(tmp_path.glob(f"{HISTORY}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage  # kept, byte for byte
    assert "is corrupt" in r.stderr and "moved it to" in r.stderr
    assert len(history_records(tmp_path / HISTORY)) == 12
    assert history_integrity(tmp_path / HISTORY) == "ok"


def test_a_corrupt_older_history_is_left_as_it_is(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    (tmp_path / "immich_upload_history.json").write_text('{"version": 1, "files": {tru')
    r = run_cli(["--json"], cli_env(server, shots), tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["created"] == 12
    assert "cannot be read" in r.stderr and "left as it is" in r.stderr
    assert (tmp_path / "immich_upload_history.json").read_text() == '{"version": 1, "files": {tru'


def test_seed_style_history_imported(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    seed = json.dumps(["Screenshot 00.png", "Screenshot 01.png"])
    (tmp_path / "immich_upload_history.json").write_text(seed)
    r = run_cli(["--json"], cli_env(server, shots), tmp_path)
    assert (json.loads(r.stdout)["created"], json.loads(r.stdout)["skipped_history"]) == (10, 2)
    assert "took over 2 records from immich_upload_history.json (a list of file names)" in r.stderr
    assert (tmp_path / "immich_upload_history.json").read_text() == seed  # untouched
    records = history_records(tmp_path / HISTORY)
    # Sizes and times learnt at first sight: from now on a change is noticed.
    assert records["Screenshot 00.png"]["outcome"] == "legacy"
    assert records["Screenshot 00.png"]["size"] == (shots / "Screenshot 00.png").stat().st_size


def test_dry_run_changes_nothing(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    r = run_cli(["--dry-run"], cli_env(server, shots), tmp_path)
    assert r.returncode == 0 and "would upload 12" in r.stdout
    assert server.call(lambda s: (len(s.state.assets), len(s.state.albums))) == (0, 0)
    assert not (tmp_path / HISTORY).exists()


def test_dry_run_on_a_folder_already_on_the_server_would_send_nothing(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """A new machine's dry run over files the server has: hashed and asked about (the bulk
    check), so it says 0 to send and 12 to link, and no upload, album or history is made."""
    other = tmp_path / "other-machine"
    other.mkdir()
    assert run_cli([], cli_env(server, shots), other).returncode == 0  # all 12 on the server
    before = server.stats()["requests"]
    r = run_cli(["--dry-run", "--json"], cli_env(server, shots, IMMICH_ALBUM_NAME="New"), tmp_path)
    after = server.stats()["requests"]
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["would_upload"], data["duplicates"], data["would_link"]) == (0, 12, 12)
    assert after.get("POST /api/assets", 0) == before["POST /api/assets"]  # not one upload
    assert (
        after["POST /api/assets/bulk-upload-check"] > before["POST /api/assets/bulk-upload-check"]
    )
    assert after.get("POST /api/albums", 0) == before.get("POST /api/albums", 0)
    assert server.call(lambda s: sorted(a.name for a in s.state.albums.values())) == ["Screens"]
    assert not (tmp_path / HISTORY).exists()
    text = run_cli(["--dry-run"], cli_env(server, shots), tmp_path).stdout
    assert "would upload 0 files, 12 already on the server, and link 12 assets" in text
    log = (tmp_path / "immich_backup.log").read_text()
    assert "end: exit 0: dry run: 12 scanned, 0 already done, would upload 0 files" in log


def test_a_dry_run_whose_key_is_refused_mid_check_exits_3(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """The bulk check answering 401 ends a dry run as a run ends: "API key rejected", exit 3,
    one line; and sync() itself raises it plain, not wrapped in the pre-check's task group."""
    import anyio

    from async_uploader.immich import AuthRejected
    from async_uploader.run import RunControl, sync

    server.call(lambda s: s.hostile("bulk-check", "echo-key", 401))
    env = cli_env(server, shots)
    r = run_cli(["--dry-run"], env, tmp_path)
    assert r.returncode == 3, r.stderr
    assert "API key" in r.stderr and "unexpected error" not in r.stderr
    config = load_config({"dry_run": True}, environ=env, cwd=tmp_path)
    with pytest.raises(AuthRejected):
        anyio.run(sync, config, RunControl(progress_seconds=0), backend="asyncio")


def test_second_run_while_one_holds_the_lock_exits_4(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    with open(tmp_path / f"{HISTORY}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        r = run_cli([], cli_env(server, shots), tmp_path)
    assert r.returncode == 4 and "another async-uploader run" in r.stderr
    assert run_cli([], cli_env(server, shots), tmp_path).returncode == 0  # released: runs


def test_users_folder_unchanged(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    def snapshot() -> dict[str, tuple[bytes, int, int]]:
        return {
            p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(shots.iterdir())
        }

    before = snapshot()
    for flags in ([], [], ["--dry-run"], ["verify", "--repair"], ["status"], ["export"]):
        r = run_cli(flags, cli_env(server, shots), tmp_path)
        assert r.returncode == 0, (flags, r.stderr)
    assert snapshot() == before
    assert server.stats()["created"] == 12  # the runs did run: every file is on the server


def test_recent_hidden_and_partial_files_left_alone(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["ok.png", ".hidden.png", "dl.png.part", "x.png~", "sub/deep.png"])
    (folder / "fresh.png").write_bytes(b"x")  # modified just now
    r = run_cli(["--json"], cli_env(server, folder, IMMICH_SETTLE_SECONDS="30"), tmp_path)
    assert json.loads(r.stdout)["created"] == 1
    r = run_cli(
        ["--json", "--recursive"], cli_env(server, folder, IMMICH_SETTLE_SECONDS="30"), tmp_path
    )
    assert json.loads(r.stdout)["created"] == 1  # sub/deep.png


@pytest.mark.anyio
async def test_file_deleted_between_scan_and_upload(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    paths = make_files(folder, [f"s{i}.png" for i in range(4)])
    with ServerThread(ServerOptions(port=0, shaping=Shaping(latency_ms=300))) as srv:
        config = Config(
            folder=folder,
            api_key=Secret(srv.api_key),
            local_url=srv.url,
            external_url=None,
            album="A",
            history_file=tmp_path / "h.json",
            log_file=tmp_path / "l.log",
            concurrency=1,
            settle_seconds=0,
        )

        async def delete_last() -> None:
            await wait_until_async(
                lambda: srv.stats()["requests"].get("POST /api/assets", 0) > 0, what="an upload"
            )
            paths[-1].unlink()

        async with anyio.create_task_group() as tg:
            tg.start_soon(delete_last)
            report = await sync(
                config, RunControl(retry=RetryPolicy.immediate(), progress_seconds=0)
            )
        assert (report.created, report.vanished, report.failed) == (3, 1, 0)
        assert report.ok


def test_demo_runs_against_the_builtin_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMMICH_", "SCREENSHOTS_"))}
    r = run_cli(["demo"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "The server now holds 8 assets" in r.stdout
    # The second run is the idle one: settled from the history, the server's request count
    # unchanged (counted by the server itself).
    assert "nothing new (8 files in the history and the album)" in r.stdout
    assert "without contacting the server (0 requests)" in r.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the current folder
    _ = OLD


def test_demo_lists_assets_sorted_with_sizes_and_the_rest_counted(tmp_path: Path) -> None:
    """A configured folder of 23 files: 20 names in order with human sizes, then "and 3 more"."""
    folder = tmp_path / "shots"
    names = [f"shot-{i:02d}.png" for i in range(23)]
    make_files(folder, list(reversed(names)), size=3_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMMICH_", "SCREENSHOTS_"))}
    r = run_cli(["demo"], env | {"SCREENSHOTS_PATH": str(folder)}, tmp_path)
    assert r.returncode == 0, r.stderr
    listed = [ln.strip() for ln in r.stdout.splitlines() if ln.startswith("    shot-")]
    assert listed == [f"{n}  (3.0 kB)" for n in names[:20]]
    assert "    and 3 more" in r.stdout
    assert "nothing new (23 files in the history and the album)" in r.stdout


def test_ctrl_c_finishes_up_links_saves_and_exits_130(tmp_path: Path) -> None:
    """First SIGINT: no new uploads, in-flight ones get their grace, uploaded ones are linked."""
    import signal

    folder = tmp_path / "f"
    make_files(folder, [f"s{i:02d}.png" for i in range(20)], size=200_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=2_000))) as srv:
        env = cli_env(srv, folder, IMMICH_CONCURRENCY="2")
        proc = start_cli(["--json"], env, tmp_path)
        wait_created(srv, 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        summary = json.loads(out)
        created = srv.stats()["created"]
        assert 2 <= summary["created"] == created < 20
        records = history_records(tmp_path / "immich_upload_history.json")
        linked = [r for r in records.values() if r["album_id"] == summary["album_id"]]
        assert len(linked) == created == len(records)
        assert album_state(srv) == [("Screens", created)]
        srv.call(lambda s: s.set_shaping(bandwidth_kbps=0))
        again = run_cli(["--json"], env, tmp_path)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["created"] == 20 - created
        assert srv.call(lambda s: len(s.state.assets)) == 20
        assert album_state(srv) == [("Screens", 20)]


def test_other_types_are_ignored_not_sent(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.jpg"])
    (folder / "notes.txt").write_text("text")
    (folder / "doc.pdf").write_bytes(b"%PDF")
    r = run_cli(["--json"], cli_env(server, folder), tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["created"] == 2
    assert "2 of other types ignored" in r.stderr
    assert server.stats()["rejected"] == 0


def test_stats_route_reports_counters(tmp_path: Path) -> None:
    """The counters are right, and the configured concurrency is reached and never passed: the
    bodies crawl through a 4 Mbit/s link, so with 4 streams four uploads are in flight at once."""
    import urllib.request

    shots = tmp_path / "shots"
    make_files(shots, [f"s{i:02d}.png" for i in range(12)], size=100_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=4_000))) as server:
        r = run_cli([], cli_env(server, shots, IMMICH_CONCURRENCY="4"), tmp_path)
        assert r.returncode == 0, r.stderr
        with urllib.request.urlopen(server.url + "/_testserver/stats") as resp:
            stats = json.loads(resp.read())
    assert stats["created"] == 12 and stats["requests"]["POST /api/assets"] == 12
    assert stats["max_uploads_in_flight"] == 4
    assert stats["upload_body_bytes"] > sum(p.stat().st_size for p in shots.iterdir())


HUGE = "9" * 400


@pytest.mark.parametrize(
    ("flags", "variable", "value", "named"),
    [
        ([], "IMMICH_MAX_RATE", HUGE, "IMMICH_MAX_RATE"),
        (["--max-rate", HUGE], "", "", "--max-rate"),
        ([], "IMMICH_EXTERNAL_MAX_UPLOAD", HUGE, "IMMICH_EXTERNAL_MAX_UPLOAD"),
        ([], "IMMICH_EXTERNAL_MAX_UPLOAD", "99999999999999GiB", "IMMICH_EXTERNAL_MAX_UPLOAD"),
        ([], "IMMICH_STALL_TIMEOUT", "1e999", "IMMICH_STALL_TIMEOUT"),
        ([], "IMMICH_LOCAL_TIMEOUT", "nan", "IMMICH_LOCAL_TIMEOUT"),
        ([], "IMMICH_RETRIES", HUGE, "IMMICH_RETRIES"),
        (["--concurrency", HUGE], "", "", "--concurrency"),
    ],
)
def test_a_huge_or_strange_number_is_exit_2_before_anything_else(
    server: ServerThread,
    shots: Path,
    tmp_path: Path,
    flags: list[str],
    variable: str,
    value: str,
    named: str,
) -> None:
    """Every setting's value is checked before the server is asked anything: one line naming
    the setting (its value cut short), exit 2; never an OverflowError after contacting it."""
    extra = {variable: value} if variable else {}
    r = run_cli(flags, cli_env(server, shots, **extra), tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and len(lines[0]) < 200, lines
    assert server.stats()["requests"] == {}
