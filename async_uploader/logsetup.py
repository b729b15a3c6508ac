"""Logging: the console (stderr) and a rotating log file; the API key is scrubbed from both.

Every line is one line: control characters in a message (a file name with a newline, a server's
answer) are escaped, so nothing a file or a server says can forge a log line. A log file that
cannot be written (a full disk) is reported once and dropped; the run goes on on the console.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from pathlib import Path

from .config import redact
from .errors import ConfigError
from .progress import BarAwareHandler
from .text import one_line

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
CONSOLE_FORMAT = "%(asctime)s %(message)s"


class Redact(logging.Filter):
    """Replaces secrets in every record, whatever logged it (aiohttp included), even tracebacks."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def clean(self, text: str) -> str:
        return redact(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_cleaned", False):
            return True  # the console and the file share the record: clean it once
        record.msg = one_line(self.clean(record.getMessage()))
        record.args = None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.clean(text)
            record.exc_info = None
        setattr(record, "_cleaned", True)  # noqa: B010 - LogRecord has no such slot
        return True


class RotatingLog(logging.handlers.RotatingFileHandler):
    """RotatingFileHandler without its cost per record: the stdlib one asks the text stream for
    its position (slow on a text file) and formats every record twice to decide on rotating, a
    quarter of a millisecond a line; this one counts what it writes."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self.written = path.stat().st_size if path.exists() else 0

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        return self.written >= self.maxBytes > 0

    def doRollover(self) -> None:
        super().doRollover()
        self.written = 0

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        self.written += len(text) + 1  # characters for bytes: near enough to rotate at ~5 MB
        return text

    def handleError(self, record: logging.LogRecord) -> None:
        """A write that failed (disk full, file gone): one line on stderr, then no more log file
        for this run, instead of the stdlib's traceback for every record."""
        exc = sys.exc_info()[1]
        reason = getattr(exc, "strerror", None) or exc
        logging.getLogger().removeHandler(self)
        with contextlib.suppress(OSError, ValueError):
            print(
                f"async-uploader: cannot write the log file {self.baseFilename}: {reason}; "
                "logging to the console only",
                file=sys.stderr,
                flush=True,
            )
        with contextlib.suppress(OSError):
            self.close()


def setup_logging(
    *,
    log_file: Path | None,
    secrets: list[str],
    quiet: bool = False,
    debug: bool = False,
) -> BarAwareHandler:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    redact = Redact(secrets)

    console = BarAwareHandler(sys.stderr)
    console.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter(CONSOLE_FORMAT, "%H:%M:%S"))
    console.addFilter(redact)
    root.addHandler(console)

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            fh = RotatingLog(log_file, max_bytes=5_000_000, backups=3)
        except OSError as exc:
            raise ConfigError(f"IMMICH_LOG_FILE: cannot write {log_file}: {exc.strerror}") from None
        fh.setLevel(logging.DEBUG if debug else logging.INFO)
        fh.setFormatter(logging.Formatter(FORMAT))
        fh.addFilter(redact)
        root.addHandler(fh)
    # aiohttp's own loggers say nothing useful to a user at INFO.
    logging.getLogger("aiohttp").setLevel(logging.DEBUG if debug else logging.WARNING)
    return console


def log_to_file(level: int, message: str) -> None:
    """Into the log file only (the console has just shown the same line in its own words)."""
    record = logging.LogRecord("async_uploader", level, __file__, 0, message, None, None)
    for handler in list(logging.getLogger().handlers):
        if isinstance(handler, logging.FileHandler) and level >= handler.level:
            handler.handle(record)
