"""``async-uploader verify``: the history held against the server (``checker``), and what it
found (``report``)."""

from .checker import verify
from .report import Finding, VerifyReport

__all__ = ["Finding", "VerifyReport", "verify"]
