"""How things are said: plurals, sizes, a line made safe, a name that is not UTF-8."""

from __future__ import annotations

import errno

import pytest

from async_uploader.text import counted, human_bytes, names, one_line, unreadable, valid_utf8


def test_plurals_are_right() -> None:
    assert (counted(1, "file"), counted(2, "file"), counted(0, "asset")) == (
        "1 file",
        "2 files",
        "0 assets",
    )
    assert counted(1, "pass", "passes") == "1 pass" and counted(3, "pass", "passes") == "3 passes"


@pytest.mark.parametrize(
    ("n", "said"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (2_500_000, "2.5 MB"), (3e12, "3000.0 GB")],
)
def test_sizes_in_si_units(n: float, said: str) -> None:
    assert human_bytes(n) == said


def test_a_few_names_then_how_many_more() -> None:
    assert names(["a", "b"]) == "a, b"
    assert names([str(i) for i in range(8)], most=3) == "0, 1, 2 and 5 more"


def test_one_line_escapes_what_could_forge_a_line() -> None:
    assert one_line("plain") == "plain"
    assert one_line("a\nb\rc\td\x1b[31m") == "a\\nb\\rc\\td\\x1b[31m"
    assert one_line("odd-\udcff.png") == "odd-\\xff.png"  # a byte that is not UTF-8, shown


def test_valid_utf8_replaces_only_what_cannot_be_encoded() -> None:
    assert valid_utf8("Capture d\u2019\u00e9cran.png") == "Capture d\u2019\u00e9cran.png"
    assert valid_utf8("odd-\udcff\udcfe.png") == "odd-\ufffd\ufffd.png"


def test_why_a_file_could_not_be_read() -> None:
    assert "became a symlink" in unreadable(OSError(errno.ELOOP, "Too many levels"))
    assert unreadable(PermissionError(errno.EACCES, "Permission denied")) == (
        "cannot read: Permission denied"
    )
