"""Where settings come from: the flags, the environment and the ``.env`` file, in that order of
precedence. The file is read with ``dotenv_values`` and never exported into ``os.environ``.
Names that look like ours and are not get a warning (a typo is the usual reason a setting
"does nothing")."""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from ..errors import ConfigError
from ..store.legacy import database_path
from .settings import HISTORY_NAME, LOG_NAME, SETTING, Setting
from .values import one_line


def unknown_names(
    file_values: Mapping[str, str], environ: Mapping[str, str], env_file: Path | None
) -> list[str]:
    """A warning for each name that looks like one of ours and is not: every IMMICH_/SCREENSHOTS
    name in .env that no setting has, and one in the environment when it is close to a setting's
    (other tools use IMMICH_ names there too: the official CLI's IMMICH_INSTANCE_URL, say)."""
    known = list(SETTING)
    out = []
    for where, names, always in (
        (str(env_file), file_values, True),
        ("the environment", environ, False),
    ):
        for name in names:
            if not name.startswith(("IMMICH_", "SCREENSHOT")) or name in SETTING:
                continue
            close = _closest(name, known)
            if close:
                out.append(
                    f"{name} (in {where}) is not a setting; did you mean {close[0]}? It is ignored"
                )
            elif always:
                out.append(f"{name} (in {where}) is not a setting of async-uploader; it is ignored")
    return out


def _closest(name: str, known: list[str]) -> list[str]:
    """The setting a name is a typo of, judged without the prefix they all share."""
    stem = name.removeprefix("IMMICH_")
    stems = {k.removeprefix("IMMICH_"): k for k in known}
    return [stems[m] for m in difflib.get_close_matches(stem, list(stems), n=1, cutoff=0.75)]


def find_env_file(explicit: Path | None, cwd: Path) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"--env-file {explicit}: no such file")
        return explicit
    candidate = cwd / ".env"
    return candidate if candidate.is_file() else None


def _env_file_warnings(path: Path) -> list[str]:
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} is readable by other users and holds your API key; run: chmod 600 {path}"]
    return []


class Sources:
    """The flags, the environment and the ``.env`` file, in that order of precedence."""

    def __init__(
        self,
        flags: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.flags = flags
        self.environ = os.environ if environ is None else environ
        self.cwd = cwd or Path.cwd()
        self.env_file = find_env_file(flags.get("env_file"), self.cwd)
        self.file_values: dict[str, str] = {}
        self.warnings: list[str] = []
        if self.env_file is not None:
            try:
                raw = dotenv_values(self.env_file)
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {self.env_file}: {exc}") from None
            self.file_values = {k: v for k, v in raw.items() if v is not None}
            self.warnings += _env_file_warnings(self.env_file)
        # Relative paths in .env are relative to its folder; history and log live beside it.
        self.base_dir = self.env_file.parent.resolve() if self.env_file else self.cwd
        self.warnings += unknown_names(self.file_values, self.environ, self.env_file)

    def read_from(self, *names: str) -> str:
        """For an error about a missing setting: a name that looks like it mistyped, and which
        .env was read (run from another folder, there is none, and that is most often why)."""
        typos = [
            w.split(" is not a setting")[0]
            for w in self.warnings
            if any(f"mean {name}?" in w for name in names)
        ]
        typo = f"{typos[0]} looks like it, mistyped; " if typos else ""
        if self.env_file is not None:
            return f"{typo}read {self.env_file}"
        return (
            f"{typo}no .env found in {self.cwd} (run from the folder of your .env, or --env-file)"
        )

    def get(self, name: str) -> tuple[str | None, Path]:
        """The value of a variable and the folder its relative paths are relative to."""
        if name in self.environ:
            return one_line(self.environ[name], name, "the environment"), self.cwd
        if name in self.file_values:
            return one_line(self.file_values[name], name, str(self.env_file)), self.base_dir
        return None, self.cwd

    def secrets(self) -> list[str]:
        """The keys as the sources hold them (for an error before the configuration is whole:
        whatever the line says, it says neither)."""
        values = (self.get(name)[0] for name in ("IMMICH_API_KEY", "IMMICH_ADMIN_API_KEY"))
        return [v.strip() for v in values if v and v.strip()]

    def flag(self, setting: Setting) -> Any:
        """The flag's value for this setting, or None when no flag gave one (an empty list of a
        repeatable flag included)."""
        value = self.flags.get(setting.option) if setting.option else None
        return None if value == [] else value

    def text(self, setting: Setting) -> tuple[str | None, str]:
        """A setting's text and the name to blame for it: the flag's (``--max-rate``) when a
        flag gave it, else the variable's; (None, name) when neither did."""
        flag = self.flag(setting)
        if flag is not None:
            return str(flag), "--" + setting.option.replace("_", "-")
        value, _ = self.get(setting.env)
        return value, setting.env

    def path_of(self, flag: str, name: str, default: Path | None) -> Path | None:
        if self.flags.get(flag) is not None:
            return (self.cwd / Path(self.flags[flag]).expanduser()).resolve()
        value, rel = self.get(name)
        if value:
            return (rel / Path(value).expanduser()).resolve()
        return default

    def history_file(self) -> Path:
        """The history's database. A ``.json`` name (what an older version wrote) means the
        database beside it, ``<name>.sqlite``, which takes that JSON over on its first run."""
        default = self.base_dir / HISTORY_NAME
        return database_path(self.path_of("history", "IMMICH_HISTORY_FILE", default) or default)

    def log_file(self) -> Path:
        default = self.base_dir / LOG_NAME
        return self.path_of("log_file", "IMMICH_LOG_FILE", default) or default
