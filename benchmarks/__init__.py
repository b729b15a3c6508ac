"""Benchmarks: ours and the other uploaders side by side on the test server (``python -m
benchmarks``; see run.py for the rooms, docs/performance.md for how to read them)."""
