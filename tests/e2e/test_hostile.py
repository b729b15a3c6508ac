"""Hostile servers and odd files (issue 10): each case is staged on the test server's hostile
modes or on a real file system, and judged on the server's state and the history."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import secrets
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_uploader.testserver import HostileRule, ServerOptions, ServerThread, Shaping

from ..support import (
    HISTORY,
    OLD,
    cli_env,
    history_records,
    last_run_record,
    make_files,
    run_cli,
    start_cli,
    wait_created,
    wait_for_log,
    wait_until,
)


def hostile_server(*rules: str, **options: Any) -> ServerThread:
    parsed = tuple(HostileRule.parse(r) for r in rules)
    return ServerThread(ServerOptions(port=0, hostile=parsed, **options))


def assets_by_name(srv: ServerThread) -> dict[str, Any]:
    return srv.call(lambda s: {a.original_file_name: a for a in s.state.assets.values()})


def album_sizes(srv: ServerThread) -> list[int]:
    return srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()])


def no_crash(r: subprocess.CompletedProcess[str]) -> None:
    """No traceback (but under --debug, which shows them), no task-group wrapper: the error
    line names the cause."""
    text = r.stdout + r.stderr
    assert "unexpected error" not in text and "ExceptionGroup" not in text
    if "--debug" not in r.args:
        assert "Traceback" not in text


def quick(**extra: str) -> dict[str, str]:
    """Settings that keep a hostile case short: one retry, short waits."""
    return {"IMMICH_RETRIES": "1", "IMMICH_RETRY_MAX_WAIT": "0.2", **extra}


# -- 1: the key echoed back ---------------------------------------------------------------------
def test_key_echoed_by_the_server_appears_nowhere_we_write_or_print(tmp_path: Path) -> None:
    """Every error of the server carries the key (a wrong one too): every command at every
    level, then every file the tool wrote and every byte it printed, grepped for the key and
    for its first 8 characters."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i}.png" for i in range(4)])
    outputs: list[str] = []
    with hostile_server("*=echo-key", "upload=echo-key:400", "bulk-check=echo-key:500") as srv:
        key = srv.api_key
        env = cli_env(srv, folder, **quick())
        for flags in (
            [],
            ["--debug"],
            ["--quiet"],
            ["--json"],
            ["--json", "--debug"],
            ["--dry-run"],
        ):
            r = run_cli(flags, env, tmp_path)
            no_crash(r)
            assert r.returncode in (0, 1), r.stderr
            outputs.append(r.stdout + r.stderr)
        records = history_records(tmp_path / HISTORY)
        assert {r["outcome"] for r in records.values()} == {"rejected"} and len(records) == 4
        assert all("***" in str(r["message"]) for r in records.values())  # the echo, scrubbed
        for command in (["status"], ["status", "--json"], ["check"], ["check", "--debug"]):
            r = run_cli(command, env, tmp_path)
            no_crash(r)
            outputs.append(r.stdout + r.stderr)
        # The same server, a key it does not know: its 401 echoes the key we sent.
        wrong = secrets.token_urlsafe(32)
        env_wrong = {**env, "IMMICH_API_KEY": wrong}
        for flags in ([], ["--debug"], ["--json"], ["check"], ["watch"]):
            r = run_cli(flags, env_wrong, tmp_path)
            no_crash(r)
            assert r.returncode == 3, r.stdout + r.stderr
            outputs.append(r.stdout + r.stderr)
        assert "API key rejected" in outputs[-1]
        # A watch with the right key: one pass, then Ctrl-C.
        proc = subprocess.Popen(
            [sys.executable, "-m", "async_uploader", "watch", "--debug"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Its first pass over (the watch is waiting for changes), then Ctrl-C.
        wait_for_log(tmp_path / "immich_backup.log", "uploads:", after=" watch: folder")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        outputs.append(out + err)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and folder not in p.parents]
    assert any(p.name.endswith(".log") for p in written) and any(p.name == HISTORY for p in written)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in written] + outputs
    assert any("was ***" in t for t in texts)  # the server did echo it, and it was scrubbed
    for secret in (key, wrong):
        for text in texts:
            assert secret not in text and secret[:8] not in text
    for name in (HISTORY, HISTORY + ".lock"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


# -- 2: symlinks --------------------------------------------------------------------------------
def _link_farm(tmp_path: Path) -> tuple[Path, Path]:
    folder, outside = tmp_path / "shots", tmp_path / "outside"
    make_files(folder, ["a.png", "shot.png", "sub/inner.png"])
    make_files(outside, ["secret.png", "deep/other.png"], start_seed=50)
    (outside / "secret.xmp").write_text("<x:xmpmeta>secret sidecar</x:xmpmeta>")
    (folder / "x.png").symlink_to(outside / "secret.png")
    (folder / "passwd.png").symlink_to("/etc/passwd")
    (folder / "shot.png.xmp").symlink_to(outside / "secret.xmp")
    (folder / "linked").symlink_to(outside / "deep")
    (folder / "loop").symlink_to(folder)  # a link back up: no endless walk
    return folder, outside


@pytest.mark.parametrize("recursive", [False, True])
def test_symlinks_are_skipped_and_named_unless_followed(tmp_path: Path, recursive: bool) -> None:
    folder, outside = _link_farm(tmp_path)
    flags = ["--recursive"] if recursive else []
    with ServerThread(ServerOptions(port=0)) as srv:
        r = run_cli(flags, cli_env(srv, folder), tmp_path)
        assert r.returncode == 0, r.stderr
        names = assets_by_name(srv)
        assert set(names) == (
            {"a.png", "shot.png", "inner.png"} if recursive else {"a.png", "shot.png"}
        )
        secret = hashlib.sha1((outside / "secret.png").read_bytes()).hexdigest()
        assert secret not in {a.checksum for a in names.values()}
        assert names["shot.png"].sidecar is None  # the linked sidecar was not read
        log = (tmp_path / "immich_backup.log").read_text()
        assert "symlinks not followed" in log and "x.png" in log and "passwd.png" in log
        assert "sidecar shot.png.xmp is a symlink" in log

        # Opting in: what the links point to goes up, folders once each, the loop walked once.
        r = run_cli([*flags, "--follow-symlinks"], cli_env(srv, folder), tmp_path)
        assert r.returncode == 0, r.stderr
        names = assets_by_name(srv)
        assert "x.png" in names and "passwd.png" in names
        assert ("other.png" in names) is recursive
        records = history_records(tmp_path / HISTORY)
        assert not any(rel.startswith("loop/loop") for rel in records)


# -- 3 and the odd names: every name the file system allows -------------------------------------
def test_names_that_are_not_utf8_or_hold_control_characters(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"good {i:02d}.png" for i in range(30)])
    odd = {
        os.fsdecode(b"bad-\xff\xfe-name.png"): "bad-\ufffd\ufffd-name.png",
        "new\nline.png": "new\nline.png",
        "carriage\rreturn.png": "carriage\rreturn.png",
        'quote"s and \\ back.png': 'quote"s and \\ back.png',
        "tab\there.png": "tab\there.png",
        "a" * 251 + ".png": "a" * 251 + ".png",  # 255 bytes: the sidecar name would be too long
    }
    for i, name in enumerate(odd):
        path = os.path.join(os.fsencode(folder), os.fsencode(name))
        with open(path, "wb") as fh:
            fh.write(make_png(100 + i))
        os.utime(path, (OLD, OLD))
    with ServerThread(ServerOptions(port=0)) as srv:
        env = cli_env(srv, folder)
        r = run_cli(["--json"], env, tmp_path)
        no_crash(r)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["created"] == 36
        names = assets_by_name(srv)
        assert set(odd.values()) <= set(names) and len(names) == 36
        assert album_sizes(srv) == [36]
        records = history_records(tmp_path / HISTORY)  # keys are the local names, losslessly
        assert set(odd) <= set(records) and all(records[n]["outcome"] == "created" for n in odd)
        log = (tmp_path / "immich_backup.log").read_text(encoding="utf-8")
        assert "bad-\\xff\\xfe-name.png" in log and "new\\nline.png" in log
        assert not any(line.startswith(("line.png", "return.png")) for line in log.splitlines())
        again = run_cli(["--json"], env, tmp_path)
        assert again.returncode == 0 and json.loads(again.stdout)["server_contacted"] is False


def make_png(seed: int) -> bytes:
    from async_uploader.demo import png

    return png(8, 8, seed)


# -- 4: a server that drips or never answers ----------------------------------------------------
@pytest.mark.parametrize("rule", ["albums=drip:1", "users-me=hang"])
def test_drip_or_silence_on_a_json_call_ends_within_the_deadline(tmp_path: Path, rule: str) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png", "b.png"])
    with hostile_server(rule) as srv:
        srv.call(lambda s: s.state.create_album("Holidays", ""))  # a list of a few hundred bytes
        env = cli_env(srv, folder, **quick(IMMICH_REQUEST_TIMEOUT="2", IMMICH_STALL_TIMEOUT="3"))
        start = time.monotonic()
        r = run_cli([], env, tmp_path, timeout=90)
        took = time.monotonic() - start
        no_crash(r)
        assert r.returncode == 1, r.stderr
        assert "no complete answer in 2 s (IMMICH_REQUEST_TIMEOUT)" in r.stderr
        assert took < 30  # two attempts of 2 s, a short backoff, start-up: far below this
        assert assets_by_name(srv) == {}
        srv.call(lambda s: s.clear_hostile())
        r = run_cli([], env, tmp_path)  # the lock is free: the next run does it all
        assert r.returncode == 0, r.stderr
        assert set(assets_by_name(srv)) == {"a.png", "b.png"} and sorted(album_sizes(srv)) == [0, 2]


def test_an_upload_answer_that_never_comes_is_a_stall(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with hostile_server("upload=hang") as srv:
        env = cli_env(srv, folder, **quick(IMMICH_STALL_TIMEOUT="2", IMMICH_RETRIES="0"))
        r = run_cli([], env, tmp_path, timeout=60)
        assert r.returncode == 1 and "no progress for 2 s" in r.stdout + r.stderr
        assert history_records(tmp_path / HISTORY) == {}  # nothing confirmed, nothing recorded


# -- 6: a huge answer ---------------------------------------------------------------------------
def test_a_100_mb_album_list_is_refused_with_memory_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with hostile_server("albums=huge:100") as srv:
        env = cli_env(srv, folder, **quick())
        # A launcher of our own, so the peak RSS measured is the uploader's alone.
        launcher = (
            "import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "sys.stderr.write(r.stderr)\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", launcher, sys.executable, "-m", "async_uploader"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        code, peak_kb = map(int, r.stdout.split())
        assert code == 1, r.stderr
        assert "GET /api/albums" in r.stderr and "byte limit" in r.stderr
        assert peak_kb < 200 * 1024  # was 681 MB; the cap is 16 MB of JSON
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


# -- 7: garbage where an answer should be -------------------------------------------------------
@pytest.mark.parametrize("kind", ["wrong-shape", "missing-fields", "invalid-json", "html-200"])
def test_garbage_album_add_keeps_every_confirmed_upload(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(20)])
    with hostile_server(f"album-add={kind}") as srv:
        env = cli_env(srv, folder, **quick())
        r = run_cli([], env, tmp_path)
        no_crash(r)
        assert r.returncode == 1, r.stderr
        assert "PUT /api/albums/" in r.stdout + r.stderr
        records = history_records(tmp_path / HISTORY)
        assert len(records) == 20 and {r["outcome"] for r in records.values()} == {"created"}
        srv.call(lambda s: s.clear_hostile())
        r = run_cli(["--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["created"] == 0
        assert album_sizes(srv) == [20] and len(assets_by_name(srv)) == 20


@pytest.mark.parametrize(
    "rule",
    ["tags=wrong-shape", "tags=id-newline", "tags=echo-key:403", "tags-assets=html-200"],
)
def test_garbage_from_the_tag_routes_keeps_the_tags_for_later_and_never_the_key(
    tmp_path: Path, rule: str
) -> None:
    """Tags are never worth a failed run: what the tag routes answer wrong leaves the tags
    pending (said), the uploads and album links done, and the key nowhere we write."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(5)])
    with hostile_server(rule) as srv:
        env = cli_env(srv, folder, IMMICH_TAGS="Screens", **quick())
        r = run_cli(["--json"], env, tmp_path)
        no_crash(r)
        out = json.loads(r.stdout)
        assert (r.returncode, out["created"], out["album_linked"]) == (0, 5, 5), r.stderr
        assert (out["tagged"], out["tags_pending"]) == (0, 5)
        assert "tags:" in r.stderr and srv.api_key not in r.stderr + r.stdout
        assert srv.api_key not in (tmp_path / "immich_backup.log").read_text()
        srv.call(lambda s: s.clear_hostile())
        out = json.loads(run_cli(["--json"], env, tmp_path).stdout)
        assert (out["tagged"], out["tags_pending"]) == (5, 0)


@pytest.mark.parametrize(
    "kind", ["wrong-shape", "missing-fields", "html-502", "invalid-json", "id-newline"]
)
def test_garbage_bulk_check_falls_back_to_uploading(tmp_path: Path, kind: str) -> None:
    """Half the files on the server already (from another machine): a bulk check answering
    garbage is not believed; the uploads find what the server has (duplicates, their ids right),
    and nothing the check said is recorded."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(10)])
    with hostile_server(f"bulk-check={kind}") as srv:
        other = tmp_path / "other-machine"
        other.mkdir()
        half = tmp_path / "half"
        make_files(half, [f"s{i:02d}.png" for i in range(5)])
        srv.call(lambda s: s.clear_hostile())
        assert run_cli([], cli_env(srv, half), other).returncode == 0
        srv.call(lambda s: s.hostile("bulk-check", kind))
        r = run_cli(["--json"], cli_env(srv, folder, **quick()), tmp_path)
        no_crash(r)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert (summary["created"], summary["duplicates"]) == (5, 5) and album_sizes(srv) == [10]
        assert "bulk upload check failed" in r.stderr
        ids = set(assets_by_name(srv)[name].id for name in assets_by_name(srv))
        assert {rec["asset_id"] for rec in history_records(tmp_path / HISTORY).values()} == ids


def test_an_album_list_with_an_id_that_is_not_a_uuid_stops_the_run(tmp_path: Path) -> None:
    """An album whose id is not a UUID (a newline after it) goes into no URL path: one line
    naming the endpoint, exit 1, nothing uploaded or recorded."""
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with hostile_server("albums=id-newline") as srv:
        srv.call(lambda s: s.state.create_album("Screens"))
        r = run_cli([], cli_env(srv, folder, **quick()), tmp_path)
        no_crash(r)
        assert r.returncode == 1, r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert line.startswith("async-uploader: error: GET /api/albums: album id ")
        assert line.endswith("\\n' is not a UUID")
        assert srv.stats()["requests"].get("POST /api/assets", 0) == 0
        assert not (tmp_path / HISTORY).exists() or history_records(tmp_path / HISTORY) == {}


@pytest.mark.parametrize("kind", ["missing-fields", "id-newline"])
def test_an_upload_answer_without_an_id_records_nothing(tmp_path: Path, kind: str) -> None:
    """No id, or one with a newline after it ("$" would have let it through): the file is not
    recorded, one line names the endpoint, and a later run finds it on the server."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i}.png" for i in range(5)])
    with hostile_server(f"upload={kind}") as srv:
        env = cli_env(srv, folder, **quick())
        r = run_cli([], env, tmp_path)
        assert r.returncode == 1 and "without an asset id" in r.stdout
        assert len(assets_by_name(srv)) == 5  # the server kept them...
        assert history_records(tmp_path / HISTORY) == {}  # ...but never said which asset each is
        srv.call(lambda s: s.clear_hostile())
        r = run_cli(["--json"], env, tmp_path)
        assert r.returncode == 0 and json.loads(r.stdout)["duplicates"] == 5
        assert album_sizes(srv) == [5] and len(assets_by_name(srv)) == 5


# -- 8: redirects and pages that are not Immich's -----------------------------------------------
@pytest.mark.parametrize(
    ("route", "status"),
    [("users-me", 301), ("albums", 302), ("users-me", 307), ("albums", 308), ("ping", 301)],
)
def test_a_redirect_is_reported_as_such_and_not_followed(
    tmp_path: Path, route: str, status: int
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with (
        ServerThread(ServerOptions(port=0)) as elsewhere,
        ServerThread(ServerOptions(port=0)) as srv,
    ):
        srv.call(lambda s: s.hostile(route, "redirect", status, location=elsewhere.url))
        r = run_cli([], cli_env(srv, folder, **quick()), tmp_path)
        no_crash(r)
        assert r.returncode == 3, r.stderr
        # The health race names the URL once: "local http://...: answered 301 to ..."
        sep = ": " if route == "ping" else " "
        assert f"{srv.url}{sep}answered {status} to {elsewhere.url}/api/" in r.stderr
        assert "set the URL to the final address" in r.stderr
        assert "API key rejected" not in r.stderr
        assert elsewhere.stats()["requests"] == {}  # not one request followed the redirect


def test_a_page_that_is_not_json_is_not_a_rejected_key(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with hostile_server("users-me=html-200") as srv:
        r = run_cli([], cli_env(srv, folder, **quick()), tmp_path)
        no_crash(r)
        assert r.returncode == 1, r.stderr
        assert "GET /api/users/me: the answer is not JSON" in r.stderr
        assert "Sign in to continue" in r.stderr and "rejected" not in r.stderr


def test_only_a_401_says_the_key_was_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with hostile_server("albums=html-502") as srv:
        r = run_cli([], cli_env(srv, folder, **quick()), tmp_path)
        assert r.returncode == 1 and "GET /api/albums: HTTP 502: 502 Bad Gateway" in r.stderr
        assert "rejected" not in r.stderr
    # (a 401 is "API key rejected", exit 3: test_sync's test_a_rejected_key_exits_3_unshown)


# -- 9: Ctrl-C, once and twice ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("signum", "times", "code"),
    [
        (signal.SIGINT, 1, 130),
        (signal.SIGTERM, 1, 143),
        (signal.SIGINT, 2, 130),
        (signal.SIGTERM, 2, 143),
    ],
)
def test_an_interrupted_run_says_what_it_sent(
    tmp_path: Path, signum: int, times: int, code: int
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:03d}.png" for i in range(100)], size=40_000)
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        env = cli_env(srv, folder, IMMICH_CONCURRENCY="4")
        proc = start_cli([], env, tmp_path)
        wait_created(srv, 8)
        proc.send_signal(signum)
        if times == 2:  # the second once the first was taken: "finishing in-flight uploads"
            wait_for_log(tmp_path / "immich_backup.log", "finishing in-flight uploads")
            proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        last = last_run_record(tmp_path / HISTORY)
        assert last["interrupted"] is True and last["ok"] is False
        created = last["created"]
        assert out.startswith("Interrupted: ") and f"{created} created" in out
        # A second signal cuts uploads in flight: the server may have kept one whose answer
        # never arrived (the next run finds it a duplicate); one signal lets them finish.
        on_server = srv.stats()["created"]
        assert 8 <= created <= on_server <= created + (4 if times == 2 else 0) < 100
        assert last["files_sent"] == created
        log = (tmp_path / "immich_backup.log").read_text()
        assert "before the uploads began" not in log + err
        assert f"uploads: {created} files sent" in log and "interrupted" in log
        records = history_records(tmp_path / HISTORY)
        assert len(records) == created  # exactly what the server confirmed
        status = run_cli(["status"], env, tmp_path)
        assert "interrupted" in status.stdout
        srv.call(lambda s: s.set_shaping(bandwidth_kbps=0))
        r = run_cli([], env, tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(assets_by_name(srv)) == 100 and album_sizes(srv) == [100]


# -- 10: a full disk ----------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 256 kB tmpfs where this machine lets us mount one (root), else None."""
    mount = tmp_path / "disk"
    mount.mkdir()
    ok = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        == 0
        if os.geteuid() == 0
        else False
    )
    try:
        yield mount if ok else None
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass  # full


def test_a_full_disk_gives_one_error_line_and_a_summary(
    tmp_path: Path, small_disk: Path | None
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:03d}.png" for i in range(60)], size=30_000)
    state = small_disk if small_disk is not None else tmp_path / "state"
    state.mkdir(exist_ok=True)
    extra = {
        "IMMICH_HISTORY_FILE": str(state / "history.json"),
        "IMMICH_LOG_FILE": str(state / "run.log"),
    }
    with ServerThread(ServerOptions(port=0, shaping=Shaping(bandwidth_kbps=1_600))) as srv:
        env = cli_env(srv, folder, IMMICH_CONCURRENCY="2", **extra)
        if small_disk is not None:
            proc = start_cli(["--quiet"], env, tmp_path)
            wait_created(srv, 4)
            _fill(small_disk)  # the disk fills up mid-run
            out, err = proc.communicate(timeout=90)
            code = proc.returncode
        else:  # no mount here: a file-size limit makes every write past 4 kB fail instead

            def limit() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

            r = subprocess.run(
                [sys.executable, "-m", "async_uploader", "--quiet"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=90,
                preexec_fn=limit,
            )
            out, err, code = r.stdout, r.stderr, r.returncode
        assert code == 1, err
        assert "Logging error" not in err and "Traceback" not in err
        assert len(err.splitlines()) <= 4, err  # the log, the history, the stop: once each
        assert "cannot write the log file" in err and err.count("cannot write the log file") == 1
        assert "cannot write history" in err
        assert out.startswith("Stopped: ") and "created" in out, out
        srv.call(lambda s: s.set_shaping(bandwidth_kbps=0))
        if small_disk is not None:
            (small_disk / "filler").unlink()
        r = run_cli([], env, tmp_path)  # room again: the next run completes, nothing doubled
        assert r.returncode == 0, r.stderr
        assets = assets_by_name(srv)
        assert len(assets) == 60 and album_sizes(srv) == [60]
        assert len({a.checksum for a in assets.values()}) == 60


# -- 11 and 12: --json on every exit, bad values, closed pipes ----------------------------------
def test_json_on_every_exit(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    env = cli_env(None, folder, IMMICH_API_KEY="k", IMMICH_LOCAL_URL="http://127.0.0.1:9")
    cases = [
        (["--json"], {k: v for k, v in env.items() if k != "SCREENSHOTS_PATH"}, 2),
        (["--json"], env, 3),
        (["--json", "--concurrency", "500"], env, 2),
        (["--json", "--no-such-flag"], env, 2),
        (["status", "--json", "--history", str(folder)], env, 1),
    ]
    for flags, environ, code in cases:
        r = run_cli(flags, environ, tmp_path)
        assert r.returncode == code, (flags, r.stderr)
        [line] = r.stdout.splitlines()  # exactly one JSON object
        body = json.loads(line)
        assert body["exit_code"] == code and body["error"], flags


def test_a_value_with_a_newline_is_exit_2_naming_the_variable(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with ServerThread(ServerOptions(port=0)) as srv:
        (tmp_path / ".env").write_text(f'IMMICH_API_KEY="{srv.api_key}\nsecond-line"\n')
        env = {k: v for k, v in cli_env(srv, folder).items() if k != "IMMICH_API_KEY"}
        for flags in ([], ["--json"], ["check"]):
            r = run_cli(flags, env, tmp_path)
            no_crash(r)
            assert r.returncode == 2, r.stderr
            assert (
                "IMMICH_API_KEY" in r.stdout + r.stderr
                and "control character" in r.stdout + r.stderr
            )
            assert (
                srv.api_key not in r.stdout + r.stderr and "second-line" not in r.stdout + r.stderr
            )
        (tmp_path / ".env").unlink()
        r = run_cli(
            [], {**env, "IMMICH_API_KEY": srv.api_key, "IMMICH_ALBUM_NAME": "a\tb"}, tmp_path
        )
        assert r.returncode == 2 and "IMMICH_ALBUM_NAME" in r.stderr
        assert srv.stats()["requests"] == {}


def test_commands_survive_a_closed_pipe(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(30)])
    with hostile_server("upload=echo-key:400") as srv:
        env = cli_env(srv, folder)
        assert run_cli([], env, tmp_path).returncode == 1  # 30 rejected: a long status
        for command in ("status", "status --json", "check", "--no-progress"):
            script = f'"{sys.executable}" -m async_uploader {command} | head -c 10 >/dev/null; echo "${{PIPESTATUS[0]}}"'
            r = subprocess.run(
                ["bash", "-c", script],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert "BrokenPipe" not in r.stderr and "Traceback" not in r.stderr, (command, r.stderr)
            assert r.stdout.strip() in ("0", "1"), (command, r.stdout)


# -- empty files --------------------------------------------------------------------------------
def test_an_empty_file_is_skipped_not_failed_and_sent_once_it_has_content(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["a.png", "b.png"])
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    os.utime(empty, (OLD, OLD))
    with ServerThread(ServerOptions(port=0, api_version=3)) as srv:
        env = cli_env(srv, folder)
        r = run_cli(["--json"], env, tmp_path)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert (summary["created"], summary["empty"], summary["failed"]) == (2, 1, 0)
        assert "empty.png" not in assets_by_name(srv) and srv.stats()["rejected"] == 0
        assert "empty      empty.png: 0 bytes" in r.stderr
        assert history_records(tmp_path / HISTORY)["empty.png"]["outcome"] == "empty"
        r = run_cli(["--json"], env, tmp_path)  # while it stays empty: left alone, no warning
        assert json.loads(r.stdout)["server_contacted"] is False and "empty.png" not in r.stderr
        empty.write_bytes(make_png(7))
        os.utime(empty, (OLD + 5, OLD + 5))
        r = run_cli(["--json"], env, tmp_path)
        assert r.returncode == 0 and json.loads(r.stdout)["created"] == 1
        assert "empty.png" in assets_by_name(srv) and album_sizes(srv) == [3]


@pytest.mark.parametrize(
    ("rule", "row"),
    [
        ("ping=redirect:301", "answered 301 to"),
        ("users-me=html-200", "the answer is not JSON"),
        ("albums=wrong-shape", "expected a list of albums"),
        ("api-keys-me=missing-fields", ""),
    ],
)
def test_check_names_what_a_hostile_server_did(tmp_path: Path, rule: str, row: str) -> None:
    """`check` against each misbehaviour: a table row that names it, never a traceback."""
    folder = tmp_path / "shots"
    make_files(folder, ["a.png"])
    with hostile_server(rule) as srv:
        r = run_cli(["check"], cli_env(srv, folder, **quick()), tmp_path)
    no_crash(r)
    assert r.stdout.splitlines()[-1].startswith("Usable: "), r.stdout + r.stderr
    assert row in r.stdout
    if row:
        assert r.returncode != 0 and "FAIL" in r.stdout


def test_ctrl_c_twice_while_the_tags_never_answer_ends_the_run_with_them_kept(
    tmp_path: Path,
) -> None:
    """A tag request that never comes back, then Ctrl-C, then Ctrl-C again: the run ends within
    the second stop's bound (5 s), every upload linked and recorded, the tags kept in the history
    for the next run. Exit 0: every file was sent and linked before the stop (the uploads were
    not interrupted); the summary says what is left to tag."""
    folder = tmp_path / "shots"
    make_files(folder, [f"s{i:02d}.png" for i in range(5)])
    with hostile_server("tags=late") as srv:
        env = cli_env(srv, folder, IMMICH_TAGS="Screens", IMMICH_REQUEST_TIMEOUT="600")
        proc = start_cli([], env, tmp_path)
        log = tmp_path / "immich_backup.log"
        wait_for_log(log, "album: linked")
        wait_until(lambda: srv.stats()["requests"].get("PUT /api/tags"), what="the tag request")
        proc.send_signal(signal.SIGINT)
        wait_for_log(log, "finishing in-flight uploads", after="album: linked")
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert 4 < time.monotonic() - t0 < 30  # the abort's 5 s, and the save
        assert "5 linked to the album" in out and "5 left to tag" in out, out
        records = history_records(tmp_path / HISTORY)
        assert len(records) == 5 and all(r["album_id"] for r in records.values())
        db = sqlite3.connect(tmp_path / HISTORY)
        assert db.execute("SELECT count(*) FROM tags_pending").fetchone()[0] == 5
        db.close()
        assert "tags: not all put in time" in err
