"""Benchmarks (issue 6) live here; see README."""
