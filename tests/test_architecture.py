"""The module boundaries, held by a test: each module of the package may import only what is
listed here, so a new edge (the history learning of the server, a second module importing
aiohttp) fails until someone decides it on purpose and writes it down."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "async_uploader"
THIRD_PARTY = {"aiohttp", "aiofiles", "anyio", "dotenv", "watchfiles"}
SUBPACKAGES = ("immich", "phases", "store")  # their modules are listed one by one

# module -> what it may import: our modules by name, third-party packages in <angle brackets>.
ALLOWED: dict[str, set[str]] = {
    # The local side: knows nothing of the server, HTTP or the phases of a run.
    "errors": set(),
    "files": set(),
    "capture": {"files"},
    "config": {"<dotenv>", "errors", "store.legacy"},
    "outcomes": {"files"},
    "progress": {"outcomes"},
    "shares": {"files"},
    "local": {"config", "errors", "files", "outcomes", "shares", "store"},
    "status": {"errors", "outcomes", "store"},
    "logsetup": {"config", "errors", "progress"},
    "retry": {"<anyio>", "errors"},
    "malloc": set(),  # the C allocator's settings: the process's, so the CLI's alone
    # What a run keeps on disk: the history, the lock, the last run. The rest import the package.
    "store": {"store.history", "store.last_run", "store.legacy", "store.lock"},
    "store.private": set(),
    "store.history": {"errors", "files", "outcomes", "store.legacy", "store.private"},
    "store.last_run": {"outcomes", "store.history"},
    "store.legacy": set(),
    "store.lock": {"errors", "store.private"},
    # Talking to Immich: the API (paths, statuses, fields; aiofiles for streamed bodies) over
    # the transport, the one module that imports aiohttp. The rest import the package only.
    "immich": {"immich.api", "immich.transport"},
    "immich.api": {
        *("<aiofiles>", "<anyio>", "config", "errors", "files", "immich.transport", "outcomes"),
    },
    "immich.transport": {"<aiohttp>", "errors"},
    # The phases of a run, and the run: values and our exceptions from ``immich``, never its
    # transport. (upload and album name run.RunControl in type hints only.)
    "phases": set(),
    "phases.connect": {"<anyio>", "config", "errors", "immich", "outcomes", "phases", "retry"},
    "phases.precheck": {
        *("<anyio>", "config", "errors", "files", "immich", "outcomes", "phases"),
        *("phases.connect", "retry", "store"),
    },
    "phases.held": {"config", "outcomes", "store"},
    "phases.jobs": {"<anyio>", "errors", "immich", "store"},
    "phases.tuning": {"<anyio>", "errors", "outcomes"},
    "phases.upload": {
        *("<anyio>", "capture", "config", "errors", "files", "immich", "outcomes", "phases"),
        *("phases.connect", "phases.held", "phases.precheck", "progress", "retry", "run"),
        *("phases.tuning", "store"),
    },
    "phases.album": {
        *("<anyio>", "errors", "immich", "outcomes", "phases", "phases.connect", "retry", "run"),
        "store",
    },
    "run": {
        *("<anyio>", "config", "errors", "files", "immich", "local", "outcomes", "progress"),
        *("phases.album", "phases.connect", "phases.held", "phases.jobs", "phases.precheck"),
        *("phases.upload", "retry", "store"),
    },
    # The commands.
    "check": {
        *("<anyio>", "config", "errors", "immich", "outcomes", "phases.connect", "phases.held"),
        *("phases.jobs", "store"),
    },
    "verify": {
        *("<anyio>", "config", "errors", "files", "immich", "outcomes", "phases.connect"),
        *("retry", "store"),
    },
    "watch": {"<anyio>", "<watchfiles>", "config", "errors", "files", "immich", "outcomes", "run"},
    "demo": {"<anyio>", "config", "errors", "local", "logsetup", "outcomes", "run", "testserver"},
    "cli": {
        *("<anyio>", "check", "config", "demo", "errors", "local", "logsetup", "malloc"),
        *("outcomes", "progress", "run", "status", "store", "testserver", "verify", "watch"),
    },
    "__main__": {"cli"},
    "__init__": set(),
}


def module_name(path: Path) -> str:
    """ "files", or "immich.api" for a module of a subpackage, "immich" for its __init__."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    inside = path.parent.relative_to(PACKAGE).parts  # () at the top, ("immich",) below it
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level >= 1:
                base = list(inside[: len(inside) - (node.level - 1)])
                if node.module:
                    name = ".".join([*base, *node.module.split(".")])
                    top = name.split(".")[0]
                    found.add(name if top in SUBPACKAGES else top)
                else:  # "from . import unreadable": a module of that package, or a name of its
                    # __init__ (the package itself; the top level's __init__ is not counted)
                    for a in node.names:
                        if PACKAGE.joinpath(*base, f"{a.name}.py").exists():
                            found.add(".".join([*base, a.name]))
                        elif base:
                            found.add(".".join(base))
            elif node.level == 0 and (node.module or "").split(".")[0] in THIRD_PARTY:
                found.add(f"<{(node.module or '').split('.')[0]}>")
        elif isinstance(node, ast.Import):
            found |= {
                f"<{a.name.split('.')[0]}>"
                for a in node.names
                if a.name.split(".")[0] in THIRD_PARTY
            }
    return found


def sources() -> list[Path]:
    return [*PACKAGE.glob("*.py"), *(p for sub in SUBPACKAGES for p in PACKAGE.glob(f"{sub}/*.py"))]


def test_every_module_imports_only_what_it_may() -> None:
    modules = {module_name(p): imports_of(p) for p in sources()}
    assert set(modules) == set(ALLOWED), "a module was added or removed: list what it may import"
    extra = {m: sorted(found - ALLOWED[m]) for m, found in modules.items() if found - ALLOWED[m]}
    assert extra == {}


def test_only_the_transport_speaks_http() -> None:
    speakers = {module_name(p) for p in sources() if "<aiohttp>" in imports_of(p)}
    assert speakers == {"immich.transport"}
    outside = [p for p in sources() if not module_name(p).startswith("immich")]
    assert not any(i.startswith("immich.") for p in outside for i in imports_of(p))


def test_the_local_side_knows_nothing_of_the_server() -> None:
    server_side = {"immich", "run", "check", "watch"} | {
        m for m in ALLOWED if m.startswith("phases")
    }
    local_side = ("files", "capture", "local", "status", "outcomes", "config", "errors")
    for path in [*(PACKAGE / f"{name}.py" for name in local_side), *PACKAGE.glob("store/*.py")]:
        assert not imports_of(path) & server_side, path.name


def test_env_example_and_readme_name_exactly_the_settings_table() -> None:
    """.env.example and the README's configuration table name exactly the variables of
    config.SETTINGS, with the same flags and defaults: one place for every default."""
    import re

    from async_uploader.config import SETTINGS

    root = PACKAGE.parent
    table = {s.env: s for s in SETTINGS}
    readme = (root / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
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


def test_the_end_of_run_check_catches_counts_that_do_not_add_up() -> None:
    """Every sync ends with scanned = done before + one final outcome each; a gap raises in the
    tests (ASYNC_UPLOADER_STRICT) and is one error line otherwise."""
    import pytest

    from async_uploader.outcomes import CountsDoNotAddUp, RunReport, check_counts

    balanced = RunReport(scanned=4, skipped_history=1, created=2, empty=1)
    assert balanced.unaccounted() == 0
    assert check_counts(balanced, strict=True) is None
    short = RunReport(scanned=4, skipped_history=1, created=2)
    assert short.unaccounted() == 1
    with pytest.raises(CountsDoNotAddUp, match="4 scanned, 1 done before, 2 with an outcome"):
        check_counts(short, strict=True)
    assert "the counts do not add up" in (check_counts(short, strict=False) or "")
