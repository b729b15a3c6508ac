"""``check`` and ``status`` (issue 5, items 4 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from async_uploader.testserver import ServerThread

from ..support import HISTORY, cli_env, make_files, run_cli
from .test_sync import dead_url


def test_check_reports_a_key_without_album_create_and_a_dead_local_url(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    key = server.call(
        lambda s: s.create_api_key(["asset.upload", "album.read", "albumAsset.create", "user.read"])
    )
    dead = dead_url()
    env = cli_env(
        server, shots, IMMICH_API_KEY=key, IMMICH_LOCAL_URL=dead, IMMICH_EXTERNAL_URL=server.url
    )
    r = run_cli(["check"], env, tmp_path)
    assert r.returncode == 1, r.stdout
    lines = r.stdout.splitlines()
    local = next(line for line in lines if "local URL" in line)
    assert dead in local and "connection refused" in local and local.split()[0] == "warn"
    perms = next(line for line in lines if line.split()[1:2] == ["permissions"])
    assert perms.split()[0] == "FAIL" and "album.create" in perms
    assert any(line.strip().startswith("fix:") and "API Keys" in line for line in lines)
    assert lines[-1] == "Usable: no (2 to fix)"
    assert key not in r.stdout + r.stderr
    assert list(tmp_path.iterdir()) == [shots]  # check creates nothing
    assert server.call(lambda s: len(s.state.albums)) == 0


def test_check_passes_on_a_good_configuration(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    r = run_cli(["check"], cli_env(server, shots), tmp_path)
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines()[-1] == "Usable: yes"
    assert "Immich v3.1.0" in r.stdout and "every permission" in r.stdout


@pytest.mark.parametrize(
    ("change", "code", "said"),
    [
        ({"SCREENSHOTS_PATH": "missing"}, 2, "SCREENSHOTS_PATH"),  # the configuration
        ({"IMMICH_API_KEY": "wrong"}, 3, "API key rejected"),  # the server or the key
    ],
)
def test_check_exits_as_a_run_would(
    server: ServerThread, shots: Path, tmp_path: Path, change: dict[str, str], said: str, code: int
) -> None:
    env = cli_env(server, shots, **change)
    if "SCREENSHOTS_PATH" in change:
        env["SCREENSHOTS_PATH"] = str(tmp_path / change["SCREENSHOTS_PATH"])
    r = run_cli(["check"], env, tmp_path)
    assert r.returncode == code and said in r.stdout, r.stdout


def test_status_in_words_and_json(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png", "c.png"])
    env = cli_env(server, folder)
    server.call(lambda s: s.script_status("upload", 413, message="Request Entity Too Large"))
    server.call(lambda s: s.script_status("album-add", 500))
    run_cli(["--concurrency", "1"], cli_env(server, folder, IMMICH_RETRIES="0"), tmp_path)
    history = tmp_path / HISTORY
    before = history.read_bytes()
    files_before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli(["status"], env, tmp_path)
    assert r.returncode == 0
    assert "3 files recorded (2 created, 1 rejected)" in r.stdout
    assert "2 not yet in the album" in r.stdout
    assert "a.png: HTTP 413: Request Entity Too Large" in r.stdout
    assert "Last run:" in r.stdout and "with problems" in r.stdout
    data = json.loads(run_cli(["status", "--json"], env, tmp_path).stdout)
    assert data["pending_album_links"] == 2 and data["rejected"][0]["file"] == "a.png"
    assert data["last_run"]["ok"] is False
    assert history.read_bytes() == before  # status reads only
    assert sorted(p.name for p in tmp_path.iterdir()) == files_before  # and leaves nothing beside
    run_cli([], env, tmp_path)
    data = json.loads(run_cli(["status", "--json"], env, tmp_path).stdout)
    assert (
        data["pending_album_links"] == 0
        and data["rejected"] == []
        and data["last_run"]["ok"] is True
    )


def test_status_without_history_and_with_corrupt_one(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path)
    r = run_cli(["status"], env, tmp_path)
    assert r.returncode == 1 and "no history at" in r.stderr
    assert str(tmp_path / HISTORY) in r.stderr
    (tmp_path / HISTORY).write_bytes(b"{nope" * 1000)
    r = run_cli(["status"], env, tmp_path)
    assert r.returncode == 1 and "corrupt" in r.stderr
    assert (tmp_path / HISTORY).read_bytes() == b"{nope" * 1000  # left as it was


def test_unknown_settings_and_commands_get_a_did_you_mean(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """A typo in a setting is a warning naming the closest one (in the run's log and as a
    check row), not a silent default; a mistyped command is exit 2 with the closest command."""
    (tmp_path / ".env").write_text("IMMICH_CONCURENCY=4\nIMMICH_COLOUR=blue\n")
    env = cli_env(server, shots, IMMICH_LOCAL_ULR="http://127.0.0.1:1", IMMICH_INSTANCE_URL="x")
    r = run_cli(["--no-progress"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "IMMICH_CONCURENCY (in " in r.stderr and "did you mean IMMICH_CONCURRENCY?" in r.stderr
    assert "IMMICH_COLOUR (in " in r.stderr and "not a setting of async-uploader" in r.stderr
    assert (
        "IMMICH_LOCAL_ULR (in the environment) is not a setting; did you mean IMMICH_LOCAL_URL?"
        in r.stderr
    )
    assert "IMMICH_INSTANCE_URL" not in r.stderr  # another tool's, far from any of ours
    assert "WARNING warning" not in (tmp_path / "immich_backup.log").read_text()
    r = run_cli(["check"], env, tmp_path)
    assert "warn  configuration  IMMICH_CONCURENCY" in r.stdout
    r = run_cli(["stauts"], env, tmp_path)
    assert r.returncode == 2 and "unknown command 'stauts'; did you mean 'status'?" in r.stderr


def test_each_command_has_a_description_and_only_the_flags_it_uses(tmp_path: Path) -> None:
    """The help of every command: what it does, ranges and defaults from the settings table,
    and no flag it would ignore (check --json, demo --local-url: usage errors, exit 2)."""
    env = cli_env(None, tmp_path)
    top = run_cli(["--help"], env, tmp_path).stdout
    for name in ("sync", "watch", "check", "verify", "status", "demo", "test-server"):
        assert f"\n    {name}" in top, name
    assert "--dry-run" in top and "IMMICH_API_KEY" in top and "never from a\nflag" in top

    def flags(command: str) -> set[str]:
        r = run_cli([command, "--help"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        usage = r.stdout.split("\n\n", 1)[0]
        return {word.strip("[]") for word in usage.split() if word.strip("[]").startswith("--")}

    common = {"--env-file", "--folder", "--album", "--local-url", "--external-url", "--history"}
    run = common | {
        "--log-file",
        "--concurrency",
        "--max-rate",
        "--pause-jobs",
        "--include",
        "--exclude",
        "--no-sidecar",
        *("--since", "--until", "--folder-albums", "--visibility", "--tag", "--session-tag"),
    }
    run |= {"--recursive", "--follow-symlinks", "--no-progress", "--quiet", "--debug"}
    negated = {"--no-recursive", "--no-follow-symlinks", "--no-pause-jobs", "--no-session-tag"}
    assert flags("sync") - negated == run | {"--json", "--dry-run"}
    assert flags("watch") - negated == run
    recursive = {"--recursive", "--no-recursive"}
    assert flags("check") == common | recursive | {"--debug"}
    assert flags("verify") == common | recursive | {
        *("--log-file", "--repair", "--json", "--quiet", "--debug")
    }
    assert flags("status") == {"--env-file", "--history", "--json"}
    assert flags("demo") - {"--no-recursive"} == {
        *("--env-file", "--folder", "--album", "--recursive", "--quiet", "--debug"),
    }
    sync = run_cli(["sync", "--help"], env, tmp_path).stdout
    assert "One run: scan the folder" in sync
    assert "IMMICH_CONCURRENCY; 1 to 64; default auto" in " ".join(sync.split())
    for wrong in (["check", "--json"], ["demo", "--local-url", "x"], ["watch", "--dry-run"]):
        r = run_cli(wrong, env, tmp_path)
        assert r.returncode == 2 and "unrecognized arguments" in r.stderr, wrong


def test_a_mistyped_required_setting_is_named_in_the_error(tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env(None, tmp_path).items() if k != "SCREENSHOTS_PATH"}
    r = run_cli([], env | {"SCREENSHOTS_PAHT": str(tmp_path)}, tmp_path)
    assert r.returncode == 2
    assert "SCREENSHOTS_PAHT (in the environment) looks like it, mistyped" in r.stderr


def test_the_log_has_a_start_and_an_end_line_per_run_and_early_errors(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """Each run begins and ends in the log (version, folder, album, URLs; exit code and summary),
    an idle one too; a lock conflict (exit 4) and a configuration error (exit 2) are logged when
    a .env says where the log is."""
    import fcntl

    from async_uploader import __version__

    log_file = tmp_path / "immich_backup.log"
    env = cli_env(server, shots)
    (tmp_path / ".env").write_text(f"IMMICH_ALBUM_NAME=Screens\nSCREENSHOTS_PATH={shots}\n")
    assert run_cli(["--no-progress"], env, tmp_path).returncode == 0
    assert run_cli(["--no-progress"], env, tmp_path).returncode == 0  # idle
    lines = log_file.read_text().splitlines()
    starts = [ln for ln in lines if " start: " in ln]
    ends = [ln for ln in lines if " end: " in ln]
    assert len(starts) == len(ends) == 2
    assert f"async-uploader {__version__} sync: folder {shots}, album 'Screens'" in starts[0]
    assert f"local URL {server.url}" in starts[0]
    assert "end: exit 0: 12 scanned, 0 already done, 12 created" in ends[0]
    assert "end: exit 0: 12 scanned, 12 already done, 0 created" in ends[1]
    assert lines.index(starts[1]) > lines.index(ends[0])  # the runs read apart
    with open(tmp_path / f"{HISTORY}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert run_cli([], env, tmp_path).returncode == 4
    tail = log_file.read_text().splitlines()[len(lines) :]
    assert any("ERROR" in ln and "another async-uploader run is active" in ln for ln in tail)
    assert "end: exit 4" in tail[-1]
    broken = {k: v for k, v in env.items() if k != "SCREENSHOTS_PATH"}
    (tmp_path / ".env").write_text("IMMICH_ALBUM_NAME=Screens\nIMMICH_CONCURRENCY=999\n")
    assert run_cli([], broken, tmp_path).returncode == 2
    last = log_file.read_text().splitlines()[-2:]
    assert "SCREENSHOTS_PATH is not set" in last[0] and "end: exit 2" in last[1]
    assert server.api_key not in log_file.read_text()


def test_a_missing_setting_says_which_env_was_read(tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env(None, tmp_path).items() if k != "SCREENSHOTS_PATH"}
    r = run_cli([], env, tmp_path)
    assert r.returncode == 2 and f"no .env found in {tmp_path}" in r.stderr
    (tmp_path / ".env").write_text("IMMICH_ALBUM_NAME=Screens\n")
    r = run_cli([], env, tmp_path)
    assert r.returncode == 2 and f"read {tmp_path / '.env'}" in r.stderr


def test_the_log_says_1_file_not_1_files(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "one"
    make_files(folder, ["a.png"])
    r = run_cli(["--no-progress"], cli_env(server, folder), tmp_path)
    assert r.returncode == 0, r.stderr
    assert "scan: 1 file," in r.stderr and "uploads: 1 file sent" in r.stderr
    assert "album: linked 1 asset in" in r.stderr and "1 files" not in r.stderr


def test_check_names_a_run_holding_the_lock_and_writes_nothing_to_it(
    server: ServerThread, shots: Path, tmp_path: Path
) -> None:
    """check only looks: the holder's pid in a warn row, and the lock file left as it was
    (the old check took the lock for a moment and wrote its own pid there)."""
    import fcntl

    lock = tmp_path / f"{HISTORY}.lock"
    with open(lock, "w") as fh:
        fh.write("424242 1700000000")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX)
        r = run_cli(["check"], cli_env(server, shots), tmp_path)
        row = next(line for line in r.stdout.splitlines() if line.split()[1:2] == ["lock"])
        assert row.split()[0] == "warn" and "another async-uploader run is active" in row
        assert "(pid 424242)" in row
    assert lock.read_text() == "424242 1700000000"
    r = run_cli(["check"], cli_env(server, shots), tmp_path)
    assert not any(line.split()[1:2] == ["lock"] for line in r.stdout.splitlines())
