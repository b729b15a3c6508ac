"""Which album a file belongs in (IMMICH_FOLDER_ALBUMS): the main album (IMMICH_ALBUM_NAME), or
the album of its folder, by the folder's own name (``folder``) or by its path under the uploaded
folder, parts joined by `` / `` (``path``). Pure: a path in, a name out.

A file at the top level always belongs in the main album (None). Folders of the same name in
different places share one album in ``folder`` mode (``2024/Work`` and ``2025/Work``: ``Work``);
``path`` tells them apart. A name that is not UTF-8 shows its undecodable bytes as U+FFFD: Immich
keeps text, and an album's name is for people.
"""

from __future__ import annotations

MODES = ("off", "folder", "path")
SEPARATOR = " / "


def album_for(rel: str, mode: str) -> str | None:
    """The name of the album ``rel`` (a path relative to the folder, "/"-separated) belongs
    in; None: the main album."""
    if mode == "off":
        return None
    folder, slash, _ = rel.rpartition("/")
    if not slash:
        return None
    parts = folder.split("/")
    name = parts[-1] if mode == "folder" else SEPARATOR.join(parts)
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
