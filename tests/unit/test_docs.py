"""The documentation: a README of at most 200 lines that leads to docs/, a page per subject; every
relative link of theirs resolves (a file, and a heading within it), every setting is documented
in docs/, and --help points there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SUBJECTS = (
    "configuration",
    "how-it-works",
    "scheduling",
    "security",
    "history",
    "performance",
    "test-server",
    "development",
)


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as "-"."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"(?ms)^    .*?$", "", page.read_text())  # code blocks hold no headings
    return {slug(h) for h in re.findall(r"(?m)^#{1,6} (.+)$", text)}


def test_the_readme_is_a_landing_page_that_leads_to_every_subject() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert readme.count("    python3 -m venv") == 1 and "./scripts/test" in readme
    for subject in SUBJECTS:
        assert f"(docs/{subject}.md)" in readme, subject
        assert (ROOT / "docs" / f"{subject}.md").exists(), subject


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        assert where.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in anchors(where), f"{page.name}: {target}"


def test_every_setting_is_documented_in_docs() -> None:
    from async_uploader.config import SETTINGS

    docs = "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for setting in SETTINGS:
        assert f"`{setting.env}`" in docs, setting.env


def test_help_points_at_the_docs() -> None:
    from async_uploader.cli.flags import build_parser

    assert "docs/configuration.md" in build_parser().format_help()
