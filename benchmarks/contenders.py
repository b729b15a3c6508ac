"""The contenders: ours (this checkout, other checkouts, fixed concurrencies), the sequential
reference, the official CLI through npx, and the Python uploaders in virtualenvs of their own;
and the command line and environment each is measured with."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from .model import KEY, OURS, Bench, Contender, Scenario

HERE = Path(__file__).parent
# The inner npx runs on Node 22, so npm checks the CLI's engines against it (no EBADENGINE).
NPX = ["npx", "-y", "-p", "node@22", "--", "npx", "-y", "-p", "@immich/cli@3.2.2", "--"]


def resolve_cli() -> list[str] | None:
    """[node 22, the CLI's script]: resolved once through npx, then run directly, so npx's own
    start-up (seconds) is not counted against the CLI."""
    if shutil.which("npx") is None:
        return None
    probe = subprocess.run(
        [*NPX, "sh", "-c", 'command -v node; readlink -f "$(command -v immich)"'],
        capture_output=True,
        text=True,
        check=False,
    )
    paths = probe.stdout.split()
    return paths[:2] if probe.returncode == 0 and len(paths) >= 2 else None


# Python contenders, each in a virtualenv of its own (their dependencies never meet ours), kept in
# a cache between runs. pymmich declares Python >= 3.13; where only an older Python exists it is
# installed with --ignore-requires-python (its code runs on 3.11: checked by every measurement's
# verification), and RESULTS.md says so.
PY_CONTENDERS = {
    "immichpy": ("immichpy[cli]==9.2.4", "immichpy"),
    "pymmich": ("pymmich==0.4.0", "pymmich"),
}
VENVS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "async-uploader-bench"


def install_python_contender(kind: str, notes: list[str]) -> Path | None:
    spec, script = PY_CONTENDERS[kind]
    venv = VENVS / spec.replace("[", "_").replace("]", "_")
    exe = venv / "bin" / script
    older = sys.version_info < (3, 13) and kind == "pymmich"
    if older:
        notes.append(
            f"{spec} declares Python >= 3.13; none is available on this machine, so it was "
            f"installed with --ignore-requires-python and run on Python {platform.python_version()}."
        )
    if exe.exists():
        return exe
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *(["--ignore-requires-python"] if older else []),
            spec,
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{spec} could not be installed: {tail}", flush=True)
            notes.append(f"{spec} could not be installed here: {tail}")
            return None
    return exe if exe.exists() else None


NO_PAUSE = Contender("async-uploader --no-pause-jobs", "ours", flags=("--no-pause-jobs",))


def fixed(sc: Scenario) -> list[Contender]:
    """Ours at the fixed concurrencies the scenario compares the default (auto) with."""
    return [Contender(f"async-uploader -c {c}", "ours", c) for c in sc.fixed]


def in_turns(bench: Bench, sc: Scenario) -> list[Contender]:
    """Ours and its variants, measured in turns so that drift hits them alike."""
    variants = [*bench.compare, *fixed(sc), *([NO_PAUSE] if sc.kind == "jobs" else [])]
    return [OURS, *variants] if variants else []


def contenders(bench: Bench, sc: Scenario) -> list[Contender]:
    out = [OURS, *bench.compare, *fixed(sc)]
    if sc.kind == "jobs":
        out.append(NO_PAUSE)
    out.append(Contender("sequential (requests)", "baseline"))
    if bench.cli:
        out += [
            Contender("immich CLI 3.2.2 (default -c)", "cli"),
            Contender("immich CLI 3.2.2 -c 4", "cli", 4),
        ]
    if "immichpy" in bench.py_exes:
        out.append(Contender("immichpy 9.2.4 (default 5 at once)", "immichpy"))
    if "pymmich" in bench.py_exes:
        out.append(Contender("pymmich 0.4.0 (one at a time)", "pymmich"))
    return out


def command(
    who: Contender,
    url: str,
    folder: Path,
    work: Path,
    album: str,
    bench: Bench,
    rerun: bool = False,
    max_rate: str = "",
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one contender; ``rerun``: files may be on the server
    already (B4, B5), so contenders that have a duplicate check are asked to use it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMMICH_", "SCREENSHOTS_", "PYMMICH_"))
    }
    env["HOME"] = str(work)  # no contender finds a stored login or config of the machine's user
    # Bytecode is cached, as in an installed package (pip compiles it; a checkout run through
    # PYTHONPATH compiles it on its first run): otherwise every run of ours recompiles its source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    c = who.concurrency
    if who.kind == "ours":
        env.update(
            SCREENSHOTS_PATH=str(folder),
            IMMICH_API_KEY=KEY,
            IMMICH_LOCAL_URL=url,
            IMMICH_ALBUM_NAME=album,
            IMMICH_HISTORY_FILE=str(work / "history.json"),
            IMMICH_LOG_FILE=str(work / "ours.log"),
            IMMICH_SETTLE_SECONDS="0",
        )
        # First on sys.path, ahead of any installed copy: this checkout, or another one's. -P:
        # "-m" would put the current folder first (this checkout, when run from it), and every
        # other checkout measured would then be this one.
        env["PYTHONPATH"] = who.pythonpath or str(HERE.resolve().parent)
        cmd = [sys.executable, "-P", "-m", "async_uploader", "--quiet", "--no-progress"]
        cmd += ["--max-rate", max_rate] if max_rate else []
        cmd += list(who.flags)
        return cmd + (["--concurrency", str(c)] if c else []), env
    if who.kind == "baseline":
        return [
            sys.executable,
            str(HERE / "baseline_sequential.py"),
            url,
            KEY,
            str(folder),
            album,
        ], env
    if who.kind == "immichpy":
        cmd = [
            str(bench.py_exes["immichpy"]),
            "--api-key",
            KEY,
            "--base-url",
            url + "/api",
            "assets",
            "upload",
            str(folder),
            "--album-name",
            album,
        ]
        return cmd + (["--concurrency", str(c)] if c else []) + (
            ["--skip-duplicates"] if rerun else []
        ), env
    if who.kind == "pymmich":
        env.update(PYMMICH_URL=url, PYMMICH_API_KEY=KEY)
        return [str(bench.py_exes["pymmich"]), "upload", "-a", album, str(folder)], env
    assert bench.cli, "the official CLI was not found"
    cmd = [*bench.cli, "upload", "-u", url + "/api", "-k", KEY, "-r", "-A", album, "--no-progress"]
    return cmd + (["-c", str(c)] if c else []) + [str(folder)], env
