"""The C allocator's arenas, capped for the runs that work in threads (issue 13, B6 memory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from async_uploader import cli, malloc

# Six threads allocate while all alive (a thread's first malloc picks its arena, and an exiting
# thread hands its arena on), then glibc's malloc_stats() lists the arenas on stderr.
THREADS = """
import ctypes, sys, threading
from async_uploader.malloc import share_arenas
print(share_arenas() if sys.argv[1] == "cap" else "-", flush=True)
barrier = threading.Barrier(6)
def work():
    held = [bytearray(4096) for _ in range(8)]  # over pymalloc's 512 bytes: malloc's own
    barrier.wait()
    del held
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas(mode: str, users: str = "") -> tuple[str, int]:
    """(what share_arenas said, the arenas at the end) in a fresh Python; ``users``: a
    MALLOC_ARENA_MAX the user set."""
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    r = subprocess.run(
        [sys.executable, "-c", THREADS, mode],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**env, **({"MALLOC_ARENA_MAX": users} if users else {})},
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip(), sum(line.startswith("Arena ") for line in r.stderr.splitlines())


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""),
    reason="glibc's arenas: other C libraries have none to cap",
)
def test_worker_threads_share_two_arenas() -> None:
    """Capped, six allocating threads share glibc's two arenas; uncapped they make one each."""
    assert arenas("cap") == ("True", malloc.ARENAS)
    said, uncapped = arenas("free")
    assert said == "-" and uncapped > malloc.ARENAS + 2
    # A cap the user set stands: share_arenas leaves it (3 here, not our 2).
    assert arenas("cap", users="3") == ("False", 3)


def test_the_cli_caps_arenas_for_runs_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """sync, demo, watch and verify cap the arenas before they start a thread; status does not
    (it starts none). A sync with no settings ends at once (exit 2), after the cap."""
    called: list[str] = []
    monkeypatch.setattr(cli, "share_arenas", lambda: called.append("capped") or True)
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("IMMICH_", "SCREENSHOTS_")):
            monkeypatch.delenv(key)
    assert cli.main(["status", "--history", str(tmp_path / "h.sqlite")]) == 1  # no history
    assert called == []
    assert cli.main(["sync"]) == 2
    assert called == ["capped"]
