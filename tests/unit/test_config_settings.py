"""The settings table: the one place of every setting's variable, flag and default; the table of
docs/configuration.md and .env.example name exactly its settings."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "async_uploader"


def test_env_example_and_readme_name_exactly_the_settings_table() -> None:
    """.env.example and the table of docs/configuration.md name exactly the variables of
    config.SETTINGS, with the same flags and defaults: one place for every default."""
    import re

    from async_uploader.config import SETTINGS

    root = PACKAGE.parent
    table = {s.env: s for s in SETTINGS}
    page = (root / "docs" / "configuration.md").read_text()
    section = page.split("## The settings", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    assert [r[0].strip("`") for r in rows] == list(table)  # the same variables, same order
    for env, flag, shown, *_ in rows:
        setting = table[env.strip("`")]
        assert (flag, shown) == (setting.flag, setting.shown), env
    example = (root / ".env.example").read_text()
    named = dict(re.findall(r"^#? ?((?:IMMICH|SCREENSHOTS)_[A-Z_]+)=(.*)$", example, re.M))
    assert set(named) == set(table)
    for env, value in named.items():
        default = table[env].default
        if isinstance(default, bool):
            assert value == str(default).lower(), env
        elif isinstance(default, int | float):
            assert float(value) == float(default), env
        elif isinstance(default, str):
            assert value == default, env
