"""The log file: rotated by the size it counts itself, three kept."""

from __future__ import annotations

from pathlib import Path


def test_log_file_rotates_at_its_size_and_keeps_three(tmp_path: Path) -> None:
    """The log rotates by the size it counts itself (the stdlib's check cost 0.25 ms a line)."""
    import logging

    from async_uploader.logsetup import RotatingLog

    path = tmp_path / "immich_backup.log"
    path.write_text("x" * 150 + "\n")  # an earlier run's lines count towards the limit
    handler = RotatingLog(path, max_bytes=400, backups=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test-rotation")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(60):
            logger.warning("line %02d %s", i, "y" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [
        "immich_backup.log",
        "immich_backup.log.1",
        "immich_backup.log.2",
        "immich_backup.log.3",
    ]
    assert all(p.stat().st_size <= 400 + 60 for p in tmp_path.iterdir())
    assert "line 59" in path.read_text()
