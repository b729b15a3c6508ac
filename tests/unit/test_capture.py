"""When was a screenshot taken: from its name (every family's pattern), its own metadata, its
sidecar's name; the XMP we make."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from async_uploader.capture import find_sidecar, has_own_date, time_from_name

from ..support import make_files

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
