"""Progress: the snapshot's words and bar, and the rate, which leaves out the socket buffers' first
burst."""

from __future__ import annotations

import pytest

from async_uploader.progress import Snapshot


def test_no_progress_and_snapshot_text() -> None:
    snap = Snapshot(
        files_done=3,
        files_total=10,
        bytes_done=3_000_000,
        bytes_total=10_000_000,
        bytes_sent=3_000_000,
        elapsed=3.0,
        rate=1_000_000,
    )
    assert snap.eta == 7.0
    assert snap.line() == "progress: 3/10 files, 3.0 MB of 10.0 MB, 1.0 MB/s, about 0:07 left"
    bar = snap.bar(80)
    assert bar.startswith("[") and len(bar) < 80 and "ETA 0:07" in bar


def test_the_rate_leaves_out_the_buffer_burst_and_waits_before_promising() -> None:
    """On a 500 kB/s link, 2 MB go into the socket buffers in the first half second: the old
    average (bytes handed over / elapsed) said 4 MB/s there and 0.9 MB/s after 3 s. The window
    says nothing for the first 5 s, then the link's rate; and on what finished when files do."""
    from async_uploader.progress import Rate

    link = 500_000
    rate = Rate()
    shown = []
    for tenth in range(1, 121):
        t = tenth / 10
        sent = 2_000_000 + int(link * t)  # the burst, then the link's pace
        done = max(0, int(link * (t - 4)) // 250_000 * 250_000)  # 250 kB files finish from 4 s
        files = done // 250_000
        shown.append((t, rate.add(t, sent, done, files)))
    assert all(r is None for t, r in shown if t < 5)
    later = [r for t, r in shown if t >= 5]
    assert all(r is not None and 0.8 * link <= r <= 1.2 * link for r in later), later
    one_file = Rate()  # one big file: nothing finishes, the sockets' pace is the measure
    rates = [one_file.add(t, 2_000_000 + link * t, 0, 0) for t in range(1, 13)]
    assert rates[:4] == [None] * 4 and all(r == pytest.approx(link) for r in rates[4:])
    snap = Snapshot(1, 4, 0, 4_000_000, 2_000_000, elapsed=1.0, rate=None)
    assert snap.eta is None and "? B/s" in snap.line() and "ETA ?" in snap.bar(100)
