"""The history file: written in pieces, read back whole, the same records."""

from __future__ import annotations

import json
from pathlib import Path

from async_uploader.store import FIELDS, History, Record


def test_history_saved_in_pieces_reads_back_identical(tmp_path: Path) -> None:
    path = tmp_path / "immich_upload_history.json"
    rows = {
        f"old/{i:05d}.png": [i, i * 10, "created", f"a{i}", f"s{i}", "album", "t", None]
        for i in range(4500)
    }
    history = History(path, rows=rows)
    history.record(
        "old/00007.png", Record(7, 70, "rejected", message='bad "file"')
    )  # replaces a row
    for i in range(2500):
        history.record(f"new/é{i}.png", Record(i, i, "duplicate", f"n{i}", f"h{i}"))
    history.save()
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1 and tuple(data["fields"]) == FIELDS
    files = data["files"]
    assert len(files) == 4500 + 2500
    assert files["old/00001.png"] == rows["old/00001.png"]
    assert files["old/00007.png"][2:3] == ["rejected"] and files["old/00007.png"][7] == 'bad "file"'
    assert files["new/é2499.png"][:5] == [2499, 2499, "duplicate", "n2499", "h2499"]
    again = History.load(path)
    assert again.is_done("new/é5.png", 5, 5) and not again.is_done("old/00007.png", 7, 70)
    assert len(again.records) == 7000
