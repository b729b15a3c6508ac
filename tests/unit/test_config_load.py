"""load_config: the sources in their order (flags over the environment over .env over defaults),
relative paths, URL forms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from async_uploader.config import load_config
from async_uploader.errors import ConfigError

from ..support import (
    HISTORY,
)


def test_config_precedence_and_url_forms(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SCREENSHOTS_PATH=shots\nIMMICH_API_KEY=from-file\nIMMICH_LOCAL_URL=http://a:2283/api/\nIMMICH_ALBUM_NAME=File\nIMMICH_CONCURRENCY=2\n"
    )
    env_file.chmod(0o644)
    cfg = load_config({}, environ={"IMMICH_ALBUM_NAME": "Env"}, cwd=tmp_path)
    assert cfg.folder == (tmp_path / "shots").resolve() and cfg.album == "Env"
    assert cfg.local_url == "http://a:2283" and cfg.concurrency == 2
    assert cfg.history_file == tmp_path.resolve() / HISTORY
    assert any("readable by other users" in w for w in cfg.warnings)
    assert "from-file" not in repr(cfg)
    cfg = load_config(
        {"album": "Flag", "concurrency": "8"}, environ={"IMMICH_ALBUM_NAME": "Env"}, cwd=tmp_path
    )
    assert (cfg.album, cfg.concurrency) == ("Flag", 8)
    with pytest.raises(ConfigError, match="IMMICH_LOCAL_URL and IMMICH_EXTERNAL_URL"):
        load_config({}, environ={"IMMICH_LOCAL_URL": ""}, cwd=tmp_path)
    cfg = load_config({}, environ={"IMMICH_EXTERNAL_URL": "http://far.example"}, cwd=tmp_path)
    assert any("plain http://" in w for w in cfg.warnings)
    assert os.environ.get("IMMICH_API_KEY") != "from-file"  # never exported
