"""Reading a setting's text: rates, sizes, numbers, booleans, concurrency; each bad value one
ConfigError naming the setting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from async_uploader.config.values import (
    parse_bool,
    parse_concurrency,
    parse_number,
    parse_rate,
    parse_size,
)
from async_uploader.errors import ConfigError


def test_rates_read_as_people_write_them() -> None:
    assert parse_rate("2MB", "X") == 2_000_000 and parse_rate("500kB", "X") == 500_000
    assert parse_rate("2 MB/s", "X") == 2_000_000 and parse_rate("1.5MiB", "X") == 1.5 * 2**20
    assert parse_rate("20Mbit", "X") == 2_500_000 and parse_rate("750000", "X") == 750_000
    assert parse_rate("off", "X") == 0 and parse_rate("", "X") == 0 and parse_rate("0", "X") == 0
    for bad, said in (
        ("2Mb", "ambiguous: write 2MB for bytes or 2Mbit"),
        ("fast", "must be a rate in bytes per second"),
        ("-1MB", "must be a rate"),
        ("100", "at least 1 kB per second"),
    ):
        with pytest.raises(ConfigError, match=said):
            parse_rate(bad, "IMMICH_MAX_RATE")


HUGE = "9" * 400


@pytest.mark.parametrize(
    ("read", "text", "said"),
    [
        (lambda t: parse_rate(t, "IMMICH_MAX_RATE"), HUGE, "IMMICH_MAX_RATE must be a rate"),
        (lambda t: parse_rate(t, "--max-rate"), "999999999999999GB", "at most 100GB per second"),
        (lambda t: parse_rate(t, "--max-rate"), "1e9MB", "must be a rate"),
        (lambda t: parse_size(t, "IMMICH_EXTERNAL_MAX_UPLOAD"), HUGE, "must be a size"),
        (
            lambda t: parse_size(t, "IMMICH_EXTERNAL_MAX_UPLOAD"),
            "99999999999999GiB",
            "at most 1PiB",
        ),
        (
            lambda t: parse_number(t, "IMMICH_STALL_TIMEOUT", 1, 3600),
            HUGE,
            "a number from 1 to 3600",
        ),
        (lambda t: parse_number(t, "IMMICH_STALL_TIMEOUT", 1, 3600), "1e999", "from 1 to 3600"),
        (lambda t: parse_number(t, "IMMICH_STALL_TIMEOUT", 1, 3600), "inf", "from 1 to 3600"),
        (lambda t: parse_number(t, "IMMICH_STALL_TIMEOUT", 1, 3600), "nan", "from 1 to 3600"),
        (lambda t: parse_number(t, "IMMICH_RETRIES", 0, 100, True), HUGE, "a whole number"),
        (lambda t: parse_number(t, "IMMICH_RETRIES", 0, 100, True), "1e3", "a whole number"),
        (lambda t: parse_concurrency(t, "IMMICH_CONCURRENCY", 64), HUGE, "auto or a whole number"),
        (lambda t: parse_concurrency(t, "IMMICH_CONCURRENCY", 64), "\u00b2", "auto or a whole"),
    ],
)
def test_a_huge_or_strange_number_is_one_line_naming_the_setting(
    read: Callable[[str], object], text: str, said: str
) -> None:
    """Never an OverflowError later: every number is checked, and bounded, where it is read;
    the line quotes at most 40 characters of what was written."""
    with pytest.raises(ConfigError, match=said) as caught:
        read(text)
    assert len(str(caught.value)) < 160 and "\n" not in str(caught.value)


def test_numbers_and_booleans_as_people_write_them() -> None:
    assert parse_number(" 2.5 ", "X", 0, 10) == 2.5 and parse_number("7", "X", 0, 10, True) == 7
    assert parse_concurrency("auto", "X", 64) is None and parse_concurrency("", "X", 64) is None
    assert parse_concurrency("64", "X", 64) == 64
    assert parse_size("100MB", "X") == 100_000_000 and parse_size("1GiB", "X") == 2**30
    assert parse_size("off", "X") is None
    assert [parse_bool(v, "X") for v in ("1", "Yes", "on", "TRUE")] == [True] * 4
    assert [parse_bool(v, "X") for v in ("0", "no", "OFF", "")] == [False] * 4
    with pytest.raises(ConfigError, match="X must be true or false, not 'maybe'"):
        parse_bool("maybe", "X")
