"""The package's structure, held by tests: each module imports only what is listed here (a new
edge fails until someone decides it on purpose), the import graph has no cycle (imports for type
checking counted), no module is over 400 lines, every module says in its docstring what it owns,
only the transport speaks HTTP, and nothing outside ``immich/`` reads a status code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "async_uploader"
BENCHMARKS = ROOT / "benchmarks"
THIRD_PARTY = {"aiohttp", "aiofiles", "anyio", "dotenv", "watchfiles"}
MOST_LINES = 400


# -- the graph, read from the source with ast (nothing is imported) ----------------------------
def module_name(path: Path) -> str:
    """ "files", "immich.client", "immich" for a package's __init__, "__init__" for the top's."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _exists(parts: list[str]) -> bool:
    base = PACKAGE.joinpath(*parts)
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """Every module of ours ``path`` imports (at the top, in a function, or for type checking
    alike), and third-party packages as ``<name>``."""
    found: set[str] = set()
    here = list(path.parent.relative_to(PACKAGE).parts)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            for alias in node.names:
                if _exists([*target, alias.name]):  # a module: "from . import answers"
                    found.add(".".join([*target, alias.name]))
                else:  # a name of that module, or of a package's __init__
                    found.add(".".join(target) or "__init__")
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            assert top != "async_uploader", f"{path}: import the package's own modules relatively"
            if top in THIRD_PARTY:
                found.add(f"<{top}>")
        elif isinstance(node, ast.Import):
            found |= {
                f"<{a.name.split('.')[0]}>"
                for a in node.names
                if a.name.split(".")[0] in THIRD_PARTY
            }
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sources()}


# module -> what it may import: our modules by name (a package's name: its __init__), third-party
# packages in <angle brackets>. Outside a package, its modules are imported through the package,
# but for the few listed on purpose (config reads store.legacy's path rule without the database).
# fmt: off
ALLOWED: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "capture": {"files"},
    "check": {"check.local", "check.placement", "check.rows", "check.server", "config", "errors", "immich"},
    "check.server": {"<anyio>", "check.jobs", "check.placement", "check.rows", "config", "errors", "immich", "phases.connect", "text"},
    "check.rows": set(),
    "check.placement": {"check.rows", "config"},
    "check.local": {"check.rows", "config", "errors", "phases.held", "store", "text"},
    "check.jobs": {"check.rows", "config", "immich", "limits", "phases.jobs"},
    "cli": {"cli.commands", "cli.flags", "cli.output", "errors", "malloc", "testserver.cli"},
    "cli.commands": {"<anyio>", "check", "cli.flags", "cli.output", "cli.signals", "config", "control", "demo", "errors", "files", "local", "logsetup", "outcomes", "ping", "progress", "run", "status", "store", "text", "verify", "watch"},
    "cli.flags": {"__init__", "config"},
    "cli.output": {"__init__", "cli.flags", "config", "errors", "logsetup", "outcomes", "progress", "text"},
    "cli.signals": {"<anyio>", "config", "control", "errors", "progress"},
    "config": {"config.load", "config.secret", "config.settings", "config.sources", "config.values"},
    "config.load": {"config.secret", "config.settings", "config.sources", "config.values", "errors"},
    "config.secret": set(),
    "config.settings": {"config.values", "config.when"},
    "config.sources": {"<dotenv>", "config.settings", "config.values", "errors", "store.legacy"},
    "config.values": {"errors"},
    "config.when": {"config.values", "errors"},
    "control": {"<anyio>", "limits", "progress", "retry"},
    "demo": {"<anyio>", "config", "control", "errors", "local", "logsetup", "run", "testserver", "text"},
    "errors": {"outcomes"},
    "files": {"files.filelist", "files.hashing", "files.local", "files.walk"},
    "files.filelist": {"files.local", "limits"},
    "files.hashing": {"files.local"},
    "files.local": {"text"},
    "files.walk": {"files.filelist", "files.local", "limits"},
    "immich": {"immich.answers", "immich.bodies", "immich.client", "immich.errors", "immich.models", "immich.transport", "immich.upload"},
    "immich.answers": {"immich.models"},
    "immich.bodies": {"<anyio>", "files", "immich.models"},
    "immich.client": {"<anyio>", "config", "immich.answers", "immich.bodies", "immich.errors", "immich.models", "immich.transport", "immich.upload"},
    "immich.errors": {"errors"},
    "immich.models": {"immich.errors", "outcomes"},
    "immich.transport": {"<aiohttp>", "immich.errors"},
    "immich.upload": {"<aiofiles>", "<anyio>", "config", "files", "immich.answers", "immich.bodies", "immich.errors", "immich.models", "immich.transport", "outcomes"},
    "limits": set(),
    "local": {"config", "errors", "files", "limits", "outcomes", "shares", "store", "targets", "text", "window"},
    "logsetup": {"config", "errors", "progress", "text"},
    "malloc": set(),
    "outcomes": {"files", "text"},
    "phases": set(),
    "phases.album": {"<anyio>", "control", "errors", "immich", "limits", "outcomes", "phases.calls", "phases.connect", "retry", "store", "text"},
    "phases.calls": {"immich"},
    "phases.connect": {"<anyio>", "config", "errors", "immich", "outcomes", "phases.calls", "retry", "text"},
    "phases.held": {"config", "store", "text"},
    "phases.jobs": {"<anyio>", "immich", "limits", "store"},
    "phases.precheck": {"<anyio>", "config", "files", "immich", "limits", "outcomes", "phases.calls", "phases.connect", "retry", "store", "text"},
    "phases.results": {"outcomes", "store", "targets", "text"},
    "phases.tags": {"<anyio>", "control", "errors", "immich", "limits", "outcomes", "phases.calls", "retry", "store", "text"},
    "phases.tuning": {"<anyio>", "immich", "text"},
    "phases.upload": {"<anyio>", "capture", "config", "control", "errors", "files", "immich", "outcomes", "phases.calls", "phases.connect", "phases.held", "phases.precheck", "phases.results", "phases.tuning", "phases.waiting", "progress", "retry", "store", "text"},
    "phases.waiting": {"<anyio>"},
    "ping": {"__init__", "config"},
    "progress": {"text"},
    "retry": {"<anyio>", "immich"},
    "run": {"<anyio>", "config", "control", "errors", "files", "immich", "local", "outcomes", "phases.album", "phases.connect", "phases.held", "phases.jobs", "phases.precheck", "phases.tags", "phases.upload", "phases.waiting", "retry", "store", "text"},
    "shares": {"files"},
    "status": {"errors", "store", "text"},
    "store": {"store.history", "store.last_run", "store.legacy", "store.lock", "store.meta", "store.opening", "store.schema"},
    "store.history": {"errors", "files", "store.known", "store.legacy", "store.meta", "store.opening", "store.pending", "store.schema", "store.tagqueue"},
    "store.known": {"store.schema"},
    "store.last_run": {"outcomes", "store.history"},
    "store.legacy": set(),
    "store.lock": {"errors", "store.private"},
    "store.meta": set(),
    "store.opening": {"errors", "store.legacy", "store.meta", "store.private", "store.schema"},
    "store.pending": {"files", "store.reader", "store.schema"},
    "store.private": set(),
    "store.reader": {"store.schema"},
    "store.schema": {"errors", "files", "outcomes", "store.legacy"},
    "targets": set(),
    "store.tagqueue": {"store.reader"},
    "testserver": {"testserver.app", "testserver.hostile", "testserver.server", "testserver.shaping", "testserver.state"},
    "testserver.app": {"<aiohttp>", "testserver.core", "testserver.hostile", "testserver.routes", "testserver.shapes"},
    "testserver.body": {"<aiohttp>", "testserver.records", "testserver.shapes", "testserver.shaping"},
    "testserver.cli": {"testserver.hostile", "testserver.jobs", "testserver.server", "testserver.shaping"},
    "testserver.core": {"<aiohttp>", "testserver.body", "testserver.data", "testserver.hostile", "testserver.jobs", "testserver.records", "testserver.shapes", "testserver.shaping", "testserver.state", "testserver.views", "testserver.zod"},
    "testserver.data": set(),
    "testserver.hostile": {"<aiohttp>", "testserver.records"},
    "testserver.jobs": set(),
    "testserver.multipart": set(),
    "testserver.records": set(),
    "testserver.routes": {"testserver.routes.admin", "testserver.routes.albums", "testserver.routes.assets", "testserver.routes.server", "testserver.routes.tags", "testserver.routes.upload"},
    "testserver.routes.admin": {"<aiohttp>", "testserver.core", "testserver.data", "testserver.records", "testserver.shapes", "testserver.views", "testserver.zod"},
    "testserver.routes.albums": {"<aiohttp>", "testserver.core", "testserver.records", "testserver.shapes", "testserver.zod"},
    "testserver.routes.assets": {"<aiohttp>", "testserver.core", "testserver.records", "testserver.shapes", "testserver.views", "testserver.zod"},
    "testserver.routes.server": {"<aiohttp>", "testserver.core", "testserver.data", "testserver.shapes"},
    "testserver.routes.tags": {"<aiohttp>", "testserver.core", "testserver.records", "testserver.shapes", "testserver.zod"},
    "testserver.routes.upload": {"<aiohttp>", "testserver.body", "testserver.core", "testserver.data", "testserver.multipart", "testserver.records", "testserver.shapes", "testserver.zod"},
    "testserver.server": {"<aiohttp>", "testserver.app", "testserver.hostile", "testserver.jobs", "testserver.records", "testserver.shaping", "testserver.state"},
    "testserver.shapes": {"<aiohttp>", "testserver.data"},
    "testserver.shaping": set(),
    "testserver.state": {"testserver.records"},
    "testserver.views": {"testserver.records", "testserver.state"},
    "testserver.zod": set(),
    "text": set(),
    "verify": {"verify.checker", "verify.report"},
    "verify.checker": {"<anyio>", "config", "files", "immich", "limits", "outcomes", "phases.album", "phases.connect", "retry", "store", "text", "verify.report"},
    "verify.report": {"errors", "text"},
    "watch": {"<anyio>", "<watchfiles>", "config", "control", "errors", "files", "immich", "outcomes", "ping", "run", "text"},
    "window": {"capture", "files"},
}
# fmt: on


def test_every_module_imports_only_what_it_may() -> None:
    modules = graph()
    assert set(modules) == set(ALLOWED), "a module was added or removed: list what it may import"
    extra = {m: sorted(found - ALLOWED[m]) for m, found in modules.items() if found - ALLOWED[m]}
    assert extra == {}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or of one that imports itself
    (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue  # third-party
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    """Not even through an import for type checking, or one inside a function."""
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c", "<anyio>"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert sorted(cycles(edges)) == [["a", "b", "c"], ["d"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_for_type_checking_are_counted(tmp_path: Path) -> None:
    """The graph sees an import under ``if TYPE_CHECKING:`` and one inside a function."""
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..run import sync\n"
        "def f() -> None:\n    from . import upload\n"
    )
    module = PACKAGE / "phases" / "_probe_for_test.py"
    module.write_text(source)
    try:
        assert imports_of(module) == {"run", "phases.upload"}
    finally:
        module.unlink()


@pytest.mark.parametrize(
    "path", [*sources(), *sorted(BENCHMARKS.glob("*.py"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_module_is_over_400_lines_and_each_says_what_it_owns(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MOST_LINES, f"{path.name}: {lines} lines"
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} has no docstring saying what it owns"


def test_only_the_transport_speaks_http() -> None:
    modules = graph()
    speakers = {m for m, found in modules.items() if "<aiohttp>" in found}
    assert {m for m in speakers if not m.startswith("testserver")} == {"immich.transport"}
    outside = {m for m in modules if not m.startswith(("immich", "testserver"))}
    reached = {i for m in outside for i in modules[m] if i.startswith("immich.")}
    assert reached == set(), "outside immich/, import the package, not its modules"


def test_the_local_side_knows_nothing_of_the_server() -> None:
    server_side = {"immich", "run", "check", "watch", "retry"} | {
        m for m in ALLOWED if m.startswith(("phases", "immich."))
    }
    local_side = [
        m
        for m in ALLOWED
        if m.startswith(("files", "store", "config"))
        or m in ("capture", "local", "status", "outcomes", "errors", "text", "limits", "shares")
    ]
    for module in local_side:
        assert not ALLOWED[module] & server_side, module


def test_the_cli_never_imports_the_http_side_before_it_must() -> None:
    """An idle run is a directory scan: the CLI and its local side load without aiohttp."""
    code = (
        "import sys; import async_uploader.cli, async_uploader.cli.commands, "
        "async_uploader.local, async_uploader.status; "
        "print(sorted(m for m in ('aiohttp', 'async_uploader.immich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- status codes are immich/'s alone ------------------------------------------------------------
# The codes an uploader's code would decide on, and the edges of their classes.
HTTP_CODES = frozenset(
    {200, 201, 204, 300, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 408, 409, 413, 415}
    | {422, 429, 500, 501, 502, 503, 504, 599}
)


def status_reads(path: Path) -> list[str]:
    """Where ``path`` reads a ``.status`` or compares with an HTTP status code."""

    def is_code(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value in HTTP_CODES
        if isinstance(node, ast.Tuple | ast.Set | ast.List):
            return any(is_code(e) for e in node.elts)
        return False

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "status":
            found.append(f"{path.name}:{node.lineno}: .status")
        elif isinstance(node, ast.Compare) and any(
            is_code(n) for n in [node.left, *node.comparators]
        ):
            found.append(f"{path.name}:{node.lineno}: a status code compared")
    return found


def test_nothing_outside_immich_reads_a_status_code() -> None:
    outside = [p for p in sources() if not module_name(p).startswith(("immich", "testserver"))]
    assert [r for p in outside for r in status_reads(p)] == []


def test_the_status_check_sees_both_ways_of_reading_one(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "def f(exc, answer):\n    if exc.status in (401, 403):\n        return 1\n"
        "    return answer.code == 413\n"
    )
    assert sorted(status_reads(probe)) == [
        "probe.py:2: .status",
        "probe.py:2: a status code compared",
        "probe.py:4: a status code compared",
    ]
