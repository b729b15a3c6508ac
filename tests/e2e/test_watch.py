"""``watch``: new files once complete, once each; no CPU while idle; survives the server going
away (the real CLI in its own process, against the test server)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from async_uploader.testserver import ServerOptions, ServerThread

from ..support import cli_env, make_files, wait_for_log, wait_until


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_watch_uploads_complete_files_once_and_survives_the_server_going_away(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shots"
    log = tmp_path / "immich_backup.log"
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

            wait_until(lambda: assets() == ["old.png"], what="the first pass uploads what is there")
            wait_for_log(log, "album: linked 1 asset")  # the first pass is over

            # Idle: no CPU to speak of (time is what this measures).
            before = cpu_seconds(proc.pid)
            time.sleep(3)
            assert cpu_seconds(proc.pid) - before < 0.3

            # A screenshot written in several chunks, 0.4 s apart: sent once, complete.
            content = os.urandom(300_000)
            with open(folder / "new.png", "wb") as fh:
                for i in range(0, len(content), 100_000):
                    fh.write(content[i : i + 100_000])
                    fh.flush()
                    time.sleep(0.4)  # a writer taking its time: what the settle time is for
            wait_until(lambda: "new.png" in assets(), what="new.png sent")
            uploads = [
                a
                for a in srv.call(lambda s: list(s.state.assets.values()))
                if a.original_file_name == "new.png"
            ]
            assert [a.checksum for a in uploads] == [hashlib.sha1(content).hexdigest()]

            # The server goes away; a file arrives; the server comes back: it is sent.
            srv.stop()
            make_files(folder, ["while-away.png"], start_seed=50)
            os.utime(folder / "while-away.png")  # now: an event, and it must settle first
            wait_for_log(log, "trying again in")  # a pass found the server gone
            srv.start()
            wait_until(lambda: "while-away.png" in assets(), 40, "while-away.png sent")
            # Linked right after its upload answer: wait for it rather than race it.
            wait_until(
                lambda: (
                    srv.call(lambda s: [len(a.asset_ids) for a in s.state.albums.values()]) == [3]
                ),
                10,
                "all three in the album",
            )
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Stopped watching:" in out and "3 created" in out
        assert "trying again in" in err
        # Each file sent once over the whole watch: one outcome line each, never a second
        # upload answered "duplicate" (its half-written state never sent either).
        text = log.read_text()
        for name in ("old.png", "new.png", "while-away.png"):
            assert text.count(f"created    {name} ") == 1, name
            assert f"duplicate  {name} " not in text
