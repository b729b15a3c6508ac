"""The scan split among processes (``shares``): the same result as one process, whatever the
folder holds, and a child that fails or a parent that stops loses nothing and leaves no process."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from async_uploader import local, shares
from async_uploader.files import ScanResult, Walk, scan
from async_uploader.limits import Limits
from async_uploader.store import History, Record

from ..support import OLD, config_for, make_files


def _folder(tmp_path: Path) -> tuple[Path, History]:
    """A folder with a bit of everything a scan sorts, and a history that knows some of it."""
    folder = tmp_path / "shots"
    names = [f"Screenshot {i:03d}.png" for i in range(120)]
    names += [f"sub/deeper/clip {i}.mov" for i in range(15)]
    names += ["notes.txt", ".hidden.png", "half.png.part", "backup.png~", "skip-me.jpg"]
    names += ["sub/.git/config.png", "@eaDir/thumb.png"]
    make_files(folder, names)
    odd = os.fsencode(folder) + b"/odd-\xff\xfe.png"
    with open(odd, "wb") as fh:
        fh.write(b"not utf-8")
    os.utime(odd, (OLD, OLD))
    (folder / "link.png").symlink_to(folder / "Screenshot 000.png")
    (folder / "fresh.png").write_bytes(b"still being written")  # inside the settle window
    (folder / "empty.png").touch()
    os.utime(folder / "empty.png", (OLD, OLD))
    history = History.open(tmp_path / "history.sqlite")
    for i in range(0, 120, 3):  # a third of the screenshots are done
        p = folder / f"Screenshot {i:03d}.png"
        st = p.stat()
        history.record(p.name, Record(st.st_size, st.st_mtime_ns, "created", f"a{i}", None, "al"))
    history.save()
    return folder, history


def _walk(folder: Path, history: History, **kw: Any) -> Walk:
    settings: dict[str, Any] = {
        "recursive": True,
        "settle_seconds": 60,
        "exclude": ("skip-me.*",),
        "skip": history.unchanged_check(),
    }
    settings.update(kw)
    return Walk(folder, lambda ext: ext.lower() != ".txt", **settings)


def _summary(result: ScanResult) -> dict[str, Any]:
    return {
        "files": [tuple(f) for f in result.files],
        "unsupported": sorted(result.unsupported),
        "settling": sorted(result.settling),
        "symlinks": sorted(result.symlinks),
        "errors": sorted(result.errors),
        "ignored": result.ignored,
        "excluded": result.excluded,
        "unchanged": result.unchanged,
    }


@pytest.mark.parametrize("processes", [2, 3])
def test_a_split_scan_finds_exactly_what_one_process_finds(tmp_path: Path, processes: int) -> None:
    """Every file has one owner: the split scan's files, counts and lists equal one process's."""
    folder, history = _folder(tmp_path)
    walk = _walk(folder, history)
    alone = _summary(scan(walk))
    split = _summary(shares.scan_split(walk, processes))
    assert split == alone
    assert alone["unchanged"] == 40 and len(alone["files"]) == 120 - 40 + 15 + 2  # + odd, empty
    assert alone["settling"] == ["fresh.png"] and alone["symlinks"] == ["link.png"]
    assert any(rel.startswith("odd-") for rel in (f[1] for f in split["files"]))


def test_a_child_that_fails_has_its_share_scanned_by_the_parent(tmp_path: Path) -> None:
    """A child dying mid-walk (here its history check raises) costs time, not files."""
    folder, history = _folder(tmp_path)
    parent, check = os.getpid(), history.unchanged_check()

    def fails_in_the_child(rel: str, size: int, mtime_ns: int) -> bool:
        if os.getpid() != parent:
            raise RuntimeError("the child breaks")
        return check(rel, size, mtime_ns)

    walk = _walk(folder, history, skip=fails_in_the_child)
    assert _summary(shares.scan_split(walk, 2)) == _summary(scan(walk))


def test_a_parent_that_stops_ends_and_reaps_its_children(tmp_path: Path) -> None:
    """An error (or Ctrl-C) in the parent's own share kills the children and waits for them:
    no process is left scanning, and no zombie."""
    folder, history = _folder(tmp_path)
    parent, check = os.getpid(), history.unchanged_check()
    started: list[int] = []
    real_start = shares._Child.start

    def start(walk: Walk, share: tuple[int, int]) -> shares._Child | None:
        child = real_start(walk, share)
        assert child is not None
        started.append(child.pid)
        return child

    def stops_in_the_parent(rel: str, size: int, mtime_ns: int) -> bool:
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return check(rel, size, mtime_ns)

    walk = _walk(folder, history, skip=stops_in_the_parent)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shares._Child, "start", staticmethod(start))
        with pytest.raises(KeyboardInterrupt):
            shares.scan_split(walk, 3)
    assert len(started) == 2
    for pid in started:
        with pytest.raises(ChildProcessError):  # already reaped
            os.waitpid(pid, os.WNOHANG)


def test_the_split_is_used_only_where_it_is_safe_and_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    """One process below the threshold, with --follow-symlinks, with a history that learns
    sizes as it goes, or while other threads run (a fork copies only the calling one)."""
    many = 10**6
    kw: dict[str, Any] = {"follow_symlinks": False, "exact": True, "threshold": 1000}
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert shares.processes_for(many, **kw) == 1
    finally:
        stop.set()
        other.join()
    with monkeypatch.context() as mp:  # as if alone (earlier tests may leave idle threads)
        mp.setattr(shares.threading, "active_count", lambda: 1)
        assert shares.processes_for(999, **kw) == 1
        assert shares.processes_for(many, **{**kw, "follow_symlinks": True}) == 1
        assert shares.processes_for(many, **{**kw, "exact": False}) == 1
        cpus = len(os.sched_getaffinity(0))
        assert shares.processes_for(many, **kw) == min(cpus, shares.MOST)


def test_an_idle_run_over_a_big_history_scans_in_several_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """read_local (the CLI's first step) splits the scan once the history is big enough, and
    finds what one process finds: what is done skipped, the rest to send."""
    folder, history = _folder(tmp_path)
    history.close()
    config = config_for(
        "http://127.0.0.1:9", "k", folder, tmp_path, history_file=tmp_path / "history.sqlite"
    )
    # Threads left by earlier tests (anyio's idle workers linger 10 s) would keep it to one
    # process; they hold nothing the child touches.
    monkeypatch.setattr(shares.threading, "active_count", lambda: 1)
    # Two processors, whatever this machine has: the split is what is tested, not its speed.
    monkeypatch.setattr(shares.os, "sched_getaffinity", lambda pid: {0, 1})
    found = []
    for threshold in (10**9, 10):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="async_uploader.shares"):
            history, scanned = local.read_local(config, Limits(split_from=threshold))
        history.close()
        found.append(_summary(scanned))
        assert ("scan: 2 processes" in caplog.text) == (threshold == 10)
    assert found[0] == found[1]
    assert found[1]["unchanged"] == 40 and len(found[1]["files"]) > 80
