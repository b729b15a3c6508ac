"""``python -m async_uploader``: the same as the ``async-uploader`` command."""

from .cli import main

if __name__ == "__main__":  # not when a spawned process imports it (the test server's workers)
    raise SystemExit(main())
