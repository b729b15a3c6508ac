"""Capture times from screenshot names, sidecars, and filters (issue 5, items 6 and 7)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import pytest

from async_uploader.capture import find_sidecar, has_own_date, make_xmp, time_from_name
from async_uploader.files import Walk, scan
from async_uploader.testserver import ServerThread

from .conftest import HISTORY, cli_env, make_files, run_cli

# name, the local wall-clock time it carries (None: no time in it)
CASES = [
    ("Screenshot 2024-05-01 at 12.00.00.png", "2024-05-01 12:00:00"),  # macOS
    ("Screen Shot 2024-05-07 at 9.41.00 PM.png", "2024-05-07 21:41:00"),  # older macOS, 12 h
    ("Screen Shot 2024-05-07 at 12.05.00 AM.png", "2024-05-07 00:05:00"),
    ("Bildschirmfoto 2024-05-04 um 08.15.00.png", "2024-05-04 08:15:00"),  # macOS, German
    ("Capture d’écran 2024-05-05 à 10.10.10.png", "2024-05-05 10:10:10"),  # macOS, French
    ("スクリーンショット 2024-05-06 11.11.11.png", "2024-05-06 11:11:11"),  # macOS, Japanese
    ("Screenshot 2024-05-03 182204.png", "2024-05-03 18:22:04"),  # Windows 11 Snipping Tool
    ("Screenshot_20240502-093012.png", "2024-05-02 09:30:12"),  # Android
    ("Screenshot_20240502-093012_Chrome.jpg", "2024-05-02 09:30:12"),  # Android, with app
    ("Screenshot_2024-05-02-09-30-12-123_com.android.chrome.jpg", "2024-05-02 09:30:12"),  # MIUI
    ("Screenshot from 2024-05-03 18-22-04.png", "2024-05-03 18:22:04"),  # GNOME
    ("Screenshot From 2024-05-03 18-22-04.png", "2024-05-03 18:22:04"),  # GNOME 42+
    ("Screenshot_20240503_182204.png", "2024-05-03 18:22:04"),  # KDE Spectacle
    ("20240503182204_1.jpg", "2024-05-03 18:22:04"),  # Steam
    ("2024-05-03_18-22-04.png", "2024-05-03 18:22:04"),  # Flameshot
    ("Screenshot 2024-13-45 at 12.00.00.png", None),  # not a date
    ("holiday.png", None),
    ("IMG_1234.png", None),
]


@pytest.mark.parametrize(("name", "expected"), CASES)
def test_time_from_name(name: str, expected: str | None) -> None:
    got = time_from_name(name)
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.strftime("%Y-%m-%d %H:%M:%S") == expected
        assert (
            got.utcoffset()
            == datetime.strptime(expected, "%Y-%m-%d %H:%M:%S").astimezone().utcoffset()
        )


def test_png_metadata_detection(tmp_path: Path) -> None:
    plain = make_files(tmp_path, ["plain.png"])[0]
    assert not has_own_date(plain)
    data = plain.read_bytes()
    import struct
    import zlib

    text = b"Creation Time\x002024:05:01 12:00:00"
    chunk = (
        struct.pack(">I", len(text))
        + b"tEXt"
        + text
        + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    )
    dated = tmp_path / "dated.png"
    dated.write_bytes(data[:33] + chunk + data[33:])  # after IHDR
    assert has_own_date(dated)
    jpeg = tmp_path / "photo.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff")
    assert has_own_date(jpeg)  # camera formats carry their own


def test_sidecar_makes_immich_show_local_time(server: ServerThread, tmp_path: Path) -> None:
    """A 12:00 screenshot in UTC+2: fileCreatedAt 10:00Z, and the sidecar's offset makes the
    timeline show 12:00 in zone UTC+2 (REAL-SERVER-NOTES.md)."""
    folder = tmp_path / "f"
    make_files(folder, ["Screenshot 2024-05-01 at 12.00.00.png", "plain.png"])
    env = cli_env(server, folder, TZ="Europe/Berlin")  # UTC+2 in May
    assert run_cli([], env, tmp_path).returncode == 0
    assets = {a.original_file_name: a for a in server.call(lambda s: list(s.state.assets.values()))}
    shot = assets["Screenshot 2024-05-01 at 12.00.00.png"]
    assert shot.fields["fileCreatedAt"] == "2024-05-01T10:00:00.000Z"
    assert shot.sidecar is not None and "2024-05-01T12:00:00+02:00" in shot.sidecar
    assert (shot.local_date_time, shot.time_zone) == ("2024-05-01T12:00:00.000Z", "UTC+2")
    plain = assets["plain.png"]  # no time in its name: its mtime, shown at local time too
    assert plain.fields["fileCreatedAt"] == "2024-05-01T12:00:01.000Z"
    assert plain.sidecar is not None and "2024-05-01T14:00:01+02:00" in plain.sidecar


def test_no_sidecar_flag_and_user_sidecar(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png"])
    user_xmp = make_xmp(datetime(2020, 1, 2, 3, 4, 5).astimezone())
    (folder / "b.png.xmp").write_bytes(user_xmp)
    env = cli_env(server, folder)
    r = run_cli(["--no-sidecar", "--json"], env, tmp_path)
    assert json.loads(r.stdout)["created"] == 2  # the .xmp itself is never an asset
    assets = {a.original_file_name: a for a in server.call(lambda s: list(s.state.assets.values()))}
    assert assets["a.png"].sidecar is None and assets["b.png"].sidecar is None
    server.call(lambda s: s.state.assets.clear() or s.state.by_checksum.clear())
    (tmp_path / HISTORY).unlink()
    assert run_cli([], env, tmp_path).returncode == 0
    assets = {a.original_file_name: a for a in server.call(lambda s: list(s.state.assets.values()))}
    assert assets["b.png"].sidecar == user_xmp.decode()  # the user's own, as it is
    assert "2024-05-01T12:00:00" in str(assets["a.png"].sidecar)


@pytest.mark.parametrize(
    ("name", "sidecar"),
    [
        ("a.png", "a.xmp"),
        ("a.png", "a.XMP"),
        ("a.png", "a.png.xmp"),
        ("a.png", "a.png.XMP"),
        ("x.tar.png", "x.tar.xmp"),
        ("a.", "a..xmp"),  # no suffix to take off: as Path("a.").with_suffix(".xmp")
        (".hidden", ".hidden.xmp"),
        ("noext", "noext.xmp"),
    ],
)
def test_find_sidecar_takes_the_names_pathlib_would(
    tmp_path: Path, name: str, sidecar: str
) -> None:
    """find_sidecar works on strings (no Path per file); it finds the same names as Path's
    with_suffix / with_name did, and nothing when only another file's sidecar is there."""
    (tmp_path / name).write_bytes(b"x")
    assert find_sidecar(str(tmp_path / name)) is None
    (tmp_path / sidecar).write_bytes(b"<x/>")
    assert find_sidecar(str(tmp_path / name)) == str(tmp_path / sidecar)
    if name == "a.png":
        assert find_sidecar(str(tmp_path / "b.png")) is None


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


def test_include_exclude_from_environment_and_flags(server: ServerThread, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    make_files(folder, ["a.png", "b.png", "c.jpg"])
    env = cli_env(server, folder, IMMICH_EXCLUDE="b.*")
    r = run_cli(["--json", "--include", "*.png"], env, tmp_path)
    assert json.loads(r.stdout)["created"] == 1
    assert server.call(lambda s: [a.original_file_name for a in s.state.assets.values()]) == [
        "a.png"
    ]


def test_settle_time_leaves_a_file_being_written(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "now.png").write_bytes(b"x")
    old = folder / "old.png"
    old.write_bytes(b"y")
    os.utime(old, (time.time() - 60, time.time() - 60))
    result = scan(Walk(folder, lambda s: True, settle_seconds=5))
    assert [f.rel for f in result.files] == ["old.png"] and result.settling == ["now.png"]
