"""``python -m async_uploader``: the same as the ``async-uploader`` command."""

from .cli import main

raise SystemExit(main())
