"""``check`` and ``status`` (issue 5, items 4 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

from async_uploader.testserver import ServerThread

from .conftest import cli_env, make_files, run_cli
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


def test_check_on_a_bad_configuration_exits_2(server: ServerThread, tmp_path: Path) -> None:
    r = run_cli(["check"], cli_env(server, tmp_path / "missing"), tmp_path)
    assert r.returncode == 2 and "SCREENSHOTS_PATH" in r.stdout


def test_check_rejected_key_exits_3(server: ServerThread, shots: Path, tmp_path: Path) -> None:
    r = run_cli(["check"], cli_env(server, shots, IMMICH_API_KEY="wrong"), tmp_path)
    assert r.returncode == 3 and "API key rejected" in r.stdout


def test_status_in_words_and_json(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png", "c.png"])
    env = cli_env(server, folder)
    server.call(lambda s: s.script_status("upload", 413, message="Request Entity Too Large"))
    server.call(lambda s: s.script_status("album-add", 500))
    run_cli(["--concurrency", "1"], cli_env(server, folder, IMMICH_RETRIES="0"), tmp_path)
    history = tmp_path / "immich_upload_history.json"
    before = history.read_bytes()
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
    assert str(tmp_path / "immich_upload_history.json") in r.stderr
    (tmp_path / "immich_upload_history.json").write_text("{nope")
    r = run_cli(["status"], env, tmp_path)
    assert r.returncode == 1 and "corrupt" in r.stderr
    assert (tmp_path / "immich_upload_history.json").read_text() == "{nope"  # left as it was


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


def test_a_missing_setting_says_which_env_was_read(tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env(None, tmp_path).items() if k != "SCREENSHOTS_PATH"}
    r = run_cli([], env, tmp_path)
    assert r.returncode == 2 and f"no .env found in {tmp_path}" in r.stderr
    (tmp_path / ".env").write_text("IMMICH_ALBUM_NAME=Screens\n")
    r = run_cli([], env, tmp_path)
    assert r.returncode == 2 and f"read {tmp_path / '.env'}" in r.stderr


def test_plurals_are_right(server: ServerThread, tmp_path: Path) -> None:
    from async_uploader.outcomes import counted

    from .conftest import make_files

    assert (counted(1, "file"), counted(2, "file"), counted(0, "asset")) == (
        "1 file",
        "2 files",
        "0 assets",
    )
    assert counted(1, "pass", "passes") == "1 pass" and counted(3, "pass", "passes") == "3 passes"
    folder = tmp_path / "one"
    make_files(folder, ["a.png"])
    r = run_cli(["--no-progress"], cli_env(server, folder), tmp_path)
    assert r.returncode == 0, r.stderr
    assert "scan: 1 file," in r.stderr and "uploads: 1 file sent" in r.stderr
    assert "album: linked 1 asset in" in r.stderr and "1 files" not in r.stderr
