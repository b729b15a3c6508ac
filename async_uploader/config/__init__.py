"""Configuration: built-in defaults < ``.env`` file < environment < command-line flags.

    secret    the API key that never prints itself, and the scrubbing of text
    values    reading one setting's text (booleans, numbers, rates, sizes, URLs, globs)
    settings  the one table of settings: variable, flag, default, reader, docs
    sources   the flags, the environment and the .env file
    load      Config, and load_config over the table

Owns reading and checking every setting; knows nothing of HTTP or of the run.
"""

from .load import Config, default_device_id, load_config
from .secret import Secret, redact
from .settings import (
    DEFAULT_CONCURRENCY,
    HISTORY_NAME,
    LOG_NAME,
    MAX_CONCURRENCY,
    SETTING,
    SETTINGS,
    Setting,
)
from .sources import Sources
from .values import normalize_url, parse_rate, parse_size

__all__ = [
    "DEFAULT_CONCURRENCY",
    "HISTORY_NAME",
    "LOG_NAME",
    "MAX_CONCURRENCY",
    "SETTING",
    "SETTINGS",
    "Config",
    "Secret",
    "Setting",
    "Sources",
    "default_device_id",
    "load_config",
    "normalize_url",
    "parse_rate",
    "parse_size",
    "redact",
]
