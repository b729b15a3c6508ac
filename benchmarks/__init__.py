"""Benchmarks: ours and the other uploaders side by side on the test server (``python -m
benchmarks``; see run.py for the rooms, README's Performance section for how to read them)."""
