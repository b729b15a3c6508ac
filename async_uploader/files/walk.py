"""The scan: one walk of the folder by ``stat`` alone, into a ``ScanResult``. Nothing is opened;
a symlink is named, not followed, unless the user asks. Knows nothing of the server."""

from __future__ import annotations

import contextlib
import os
import stat as statmod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..limits import DEFAULT
from .filelist import FileList
from .local import JUNK_DIRS, PARTIAL_SUFFIXES, LocalFile, extension, matches


@dataclass
class ScanResult:
    files: FileList = field(default_factory=FileList)
    unsupported: list[str] = field(default_factory=list)
    settling: list[str] = field(default_factory=list)  # modified too recently: next run
    ignored: int = 0  # hidden, partial downloads, junk folders
    excluded: int = 0  # by --include / --exclude
    errors: list[str] = field(default_factory=list)
    unchanged: int = 0  # skipped: the history has them, unchanged (``skip``)
    symlinks: list[str] = field(default_factory=list)  # not followed (no --follow-symlinks)
    # New files captured outside the date window, by extension: left for a later run
    outside: dict[str, int] = field(default_factory=dict)

    @property
    def outside_window(self) -> int:
        return sum(self.outside.values())

    def only(self, accepts: Callable[[str], bool]) -> ScanResult:
        """The same scan, keeping the files of the types ``accepts`` takes."""
        kept = self.files.only(accepts)
        others = self.files.only(lambda ext: not accepts(ext))
        unsupported = [*self.unsupported, *(f.rel for f in others)]
        settling = [r for r in self.settling if accepts(extension(r.rpartition("/")[2]))]
        # Links to folders (no extension) are worth naming too.
        links = [
            r for r in self.symlinks if accepts(ext := extension(r.rpartition("/")[2])) or not ext
        ]
        return ScanResult(
            kept,
            unsupported,
            settling,
            self.ignored,
            self.excluded,
            self.errors,
            self.unchanged,
            links,
            {ext: n for ext, n in self.outside.items() if accepts(ext)},
        )


_HAS_BIRTH = hasattr(os.stat_result, "st_birthtime")


def _birth_ns(st: os.stat_result) -> int | None:
    birth = getattr(st, "st_birthtime_ns", None)
    if birth is None and (b := getattr(st, "st_birthtime", None)) is not None:
        birth = int(b * 1e9)
    return birth if birth else None


_BY_FD = os.scandir in os.supports_fd


def _list(directory: str) -> tuple[Any, int | None]:  # (os.scandir's iterator, its fd)
    """The folder's entries; where the system can, listed through a descriptor of the folder,
    so that each entry's stat resolves its name alone, not the whole path again (a tenth of an
    idle run over a million files)."""
    if not _BY_FD:
        return os.scandir(directory), None
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        return os.scandir(fd), fd
    except OSError:
        os.close(fd)
        raise


@contextlib.contextmanager
def _closing(fd: int | None) -> Iterator[None]:
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def scan(walk: Walk) -> ScanResult:
    """``walk`` done by this process alone (``shares.scan_split``: by several)."""
    result = ScanResult(FileList(walk.spill))
    walk(result, result.files.append)
    result.files.finish()
    return result


@dataclass(frozen=True)
class Walk:
    """One scan's settings, to walk the folder with: the whole of it, or one share of its files
    (``shares``: the scan split among processes).

    Every file of a supported type (``accepts(".ext")``; None: any), by stat alone: nothing is
    opened. ``skip(rel, size, mtime_ns)`` leaves out (and counts) files already done. A symlink
    is not followed (it may point anywhere: ``passwd.png -> /etc/passwd``): it is listed in
    ``symlinks``. With ``follow_symlinks`` it counts as what it points to, and linked folders are
    entered once each (a link back up the tree is no endless loop)."""

    folder: Path
    accepts: Callable[[str], bool] | None
    recursive: bool = False
    settle_seconds: float = 0.0
    now: float | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip: Callable[[str, int, int], bool] | None = None
    # Whether a new file's capture time is inside the date window (None: no window); picklable,
    # for the split scan's walkers
    window: Callable[[LocalFile], bool] | None = None
    follow_symlinks: bool = False
    spill: int = DEFAULT.spill  # files held in memory before the list spills to disk

    def __call__(
        self,
        result: ScanResult,
        add: Callable[[LocalFile], object],
        share: tuple[int, int] | None = None,
    ) -> None:
        """Walks the folder into ``result``, each file to send to ``add``. With ``share``
        ``(parts, mine)`` only the files whose path hashes to ``mine`` (of ``parts``) are looked
        at; every walker of a split scan lists every folder, but only share 0 reports one it
        cannot read, so that each problem is named once."""
        recursive, include, exclude = self.recursive, self.include, self.exclude
        accepts, skip, follow_symlinks = self.accepts, self.skip, self.follow_symlinks
        window, outside = self.window, result.outside
        now_ns = int((self.now if self.now is not None else datetime.now(UTC).timestamp()) * 1e9)
        settle_ns = int(self.settle_seconds * 1e9)
        filtered = bool(include or exclude)
        parts, mine = share if share is not None else (1, 0)
        birth = _birth_ns if _HAS_BIRTH else None
        partial, is_regular = PARTIAL_SUFFIXES, statmod.S_ISREG
        unchanged = 0
        stack = [("", os.fspath(self.folder))]
        seen_dirs: set[tuple[int, int]] = set()
        if follow_symlinks and recursive:
            top = os.stat(self.folder)
            seen_dirs.add((top.st_dev, top.st_ino))
        # This loop runs once per file of a million-file folder: it is kept lean on purpose.
        while stack:
            prefix, directory = stack.pop()
            try:
                entries, fd = _list(directory)
            except OSError as exc:
                if not mine:
                    result.errors.append(f"cannot read folder {directory}: {exc.strerror}")
                continue
            here = directory + os.sep
            with entries, _closing(fd):
                for entry in entries:
                    name = entry.name
                    rel = prefix + name
                    if recursive:  # otherwise a folder fails the S_ISREG test below
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        if is_dir:
                            if name in JUNK_DIRS or name[0] == ".":
                                result.ignored += not mine  # every walker lists every folder
                            elif not (exclude and matches(rel, exclude)):
                                if follow_symlinks:  # so that a link to it is not entered again
                                    st = entry.stat(follow_symlinks=False)
                                    seen_dirs.add((st.st_dev, st.st_ino))
                                stack.append((rel + "/", here + name))
                            continue
                    if parts > 1 and hash(rel) % parts != mine:
                        continue  # another walker's
                    dot = name.rfind(".")
                    ext = name[dot:] if dot > 0 else ""  # as extension(), but inline
                    # is_ignored_name(), inline
                    if name[0] == "." or name[-1] == "~" or ext.lower() in partial:
                        result.ignored += 1
                        continue
                    if filtered and (
                        matches(rel, exclude) or (include and not matches(rel, include))
                    ):
                        result.excluded += 1
                        continue
                    if accepts is not None and not accepts(ext):
                        result.unsupported.append(rel)
                        continue
                    try:
                        link = entry.is_symlink()
                        if link and not follow_symlinks:
                            result.symlinks.append(rel)
                            continue
                        st = entry.stat()  # a followed link: what it points to
                    except OSError as exc:
                        result.errors.append(f"cannot stat {rel}: {exc.strerror}")
                        continue
                    if not is_regular(st.st_mode):
                        folder_id = (st.st_dev, st.st_ino)
                        if (
                            link
                            and recursive
                            and statmod.S_ISDIR(st.st_mode)
                            and folder_id not in seen_dirs
                            and not (exclude and matches(rel, exclude))
                        ):
                            seen_dirs.add(folder_id)
                            stack.append((rel + "/", here + name))
                        continue
                    mtime_ns = st.st_mtime_ns
                    if now_ns - mtime_ns < settle_ns:
                        result.settling.append(rel)
                        continue
                    if skip is not None and skip(rel, st.st_size, mtime_ns):
                        unchanged += 1
                        continue
                    f = LocalFile(
                        here + name, rel, st.st_size, mtime_ns, birth(st) if birth else None
                    )
                    if window is not None and not window(f):
                        outside[ext.lower()] = outside.get(ext.lower(), 0) + 1
                        continue
                    add(f)
        result.unchanged += unchanged
