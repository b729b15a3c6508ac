"""Outcomes and the run's report: every file the scan offered ends in exactly one final state, and
a gap is caught."""

from __future__ import annotations


def test_the_end_of_run_check_catches_counts_that_do_not_add_up() -> None:
    """Every sync ends with scanned = done before + one final outcome each; a gap raises in the
    tests (ASYNC_UPLOADER_STRICT) and is one error line otherwise."""
    import pytest

    from async_uploader.outcomes import CountsDoNotAddUp, RunReport, check_counts

    balanced = RunReport(scanned=4, skipped_history=1, created=2, empty=1)
    assert balanced.unaccounted() == 0
    assert check_counts(balanced, strict=True) is None
    short = RunReport(scanned=4, skipped_history=1, created=2)
    assert short.unaccounted() == 1
    with pytest.raises(CountsDoNotAddUp, match="4 scanned, 1 done before, 2 with an outcome"):
        check_counts(short, strict=True)
    assert "the counts do not add up" in (check_counts(short, strict=False) or "")
