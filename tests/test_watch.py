"""``watch``: new files once complete, once each; survives the server going away (issue 5)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from async_uploader.testserver import ServerOptions, ServerThread

from .conftest import cli_env, make_files


def wait_for(what: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.05)
    return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_watch_uploads_complete_files_once_and_survives_the_server_going_away(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shots"
    make_files(folder, ["old.png"])
    with ServerThread(ServerOptions(port=0, data_dir=tmp_path / "server")) as srv:
        env = cli_env(srv, folder, IMMICH_SETTLE_SECONDS="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "async_uploader", "watch"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:

            def assets() -> list[str]:
                return srv.call(
                    lambda s: sorted(a.original_file_name for a in s.state.assets.values())
                )

            assert wait_for(lambda: assets() == ["old.png"]), "the first pass uploads what is there"

            # Idle: no CPU to speak of.
            time.sleep(1)
            before = cpu_seconds(proc.pid)
            time.sleep(3)
            assert cpu_seconds(proc.pid) - before < 0.3

            # A screenshot written in several chunks, 0.4 s apart: sent once, complete.
            content = os.urandom(300_000)
            with open(folder / "new.png", "wb") as fh:
                for i in range(0, len(content), 100_000):
                    fh.write(content[i : i + 100_000])
                    fh.flush()
                    time.sleep(0.4)
            assert wait_for(lambda: "new.png" in assets())
            time.sleep(2.5)  # any further pass would have happened by now
            uploads = [
                a
                for a in srv.call(lambda s: list(s.state.assets.values()))
                if a.original_file_name == "new.png"
            ]
            assert [a.checksum for a in uploads] == [hashlib.sha1(content).hexdigest()]
            assert (
                srv.stats()["requests"]["POST /api/assets"] == 2
            )  # old.png and new.png, once each

            # The server goes away; a file arrives; the server comes back: it is sent.
            srv.stop()
            make_files(folder, ["while-away.png"], start_seed=50)
            os.utime(folder / "while-away.png")  # now: an event, and it must settle first
            time.sleep(3)
            srv.start()
            assert wait_for(lambda: "while-away.png" in assets(), timeout=40)
            # Linked right after its upload answer: wait for it rather than race it.
            assert wait_for(
                lambda: (
                    srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()]) == [3]
                ),
                timeout=10,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Stopped watching:" in out and "3 created" in out
        assert "trying again in" in err
