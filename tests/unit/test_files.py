"""The local side: the scan (filters, junk, files still being written), the file list (in memory,
then spilled to disk), what a name says."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from async_uploader.files import (
    FileList,
    LocalFile,
    Walk,
    extension,
    is_ignored_name,
    matches,
    scan,
)

from ..support import ODD, make_files


def test_a_file_list_past_its_spill_point_lives_on_disk_and_reads_back_in_order() -> None:
    names = [f"z{i:03d}.png" for i in range(40, 0, -1)] + ["e.jpg", ODD, "sub/x.PNG"]
    files = FileList(spill=10)
    for i, name in enumerate(names):
        files.append(LocalFile(f"/f/{name}", name, 0 if name == "e.jpg" else i + 1, i, None))
    files.finish()
    assert files._db is not None and files._mem == []  # on disk, not in memory
    # In SQLite's order: names as text, then the one kept as bytes.
    assert [f.rel for f in files] == [*sorted(set(names) - {ODD}), ODD]
    png = files.only(lambda ext: ext.lower() == ".png")
    assert len(png) == 42 and {f.rel for f in png} == set(names) - {"e.jpg"}
    assert [f.rel for f in files.empties()] == ["e.jpg"] and len(files.nonempty()) == 42
    assert files.bytes == sum(f.size for f in files) and png.nonempty().bytes == png.bytes
    odd = next(f for f in files if f.rel == ODD)
    assert odd.fspath == f"/f/{ODD}" and odd.size == names.index(ODD) + 1
    files.close()


def test_include_exclude_hidden_and_junk(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    names = [
        "a.png",
        "b.jpg",
        "draft-c.png",
        "old/d.png",
        "new/e.png",
        ".hidden.png",
        "@eaDir/f.png",
        ".thumbnails/g.png",
        "$RECYCLE.BIN/h.png",
        "new/.i.png",
    ]
    make_files(folder, names)

    def found(**kw: object) -> list[str]:
        return [
            f.rel
            for f in scan(Walk(folder, lambda s: s in (".png", ".jpg"), recursive=True, **kw)).files
        ]  # type: ignore[arg-type]

    assert found() == ["a.png", "b.jpg", "draft-c.png", "new/e.png", "old/d.png"]
    assert found(exclude=("draft-*", "old")) == ["a.png", "b.jpg", "new/e.png"]
    assert found(include=("*.png",), exclude=("new/*",)) == ["a.png", "draft-c.png", "old/d.png"]


def test_settle_time_leaves_a_file_being_written(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "now.png").write_bytes(b"x")
    old = folder / "old.png"
    old.write_bytes(b"y")
    os.utime(old, (time.time() - 60, time.time() - 60))
    result = scan(Walk(folder, lambda s: True, settle_seconds=5))
    assert [f.rel for f in result.files] == ["old.png"] and result.settling == ["now.png"]


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("a.png", ".png"),
        ("a.tar.PNG", ".PNG"),
        ("a", ""),
        (".hidden", ""),
        ("a.", "."),
        ("..x", ""),
    ],
)
def test_extension_as_splitext_would_say(name: str, ext: str) -> None:
    assert extension(name) == ext == os.path.splitext(name)[1]


def test_names_left_alone_and_globs() -> None:
    assert all(map(is_ignored_name, [".hidden.png", "x.png~", "dl.png.part", "a.crdownload"]))
    assert not any(map(is_ignored_name, ["a.png", "a.partial.png", "tmp.png"]))
    assert matches("sub/draft-1.png", ("draft-*",))  # a glob without "/": the name at any depth
    assert matches("old/d.png", ("old/*",)) and not matches("new/old/d.png", ("old/*",))
