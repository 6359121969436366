"""A monotonic clock the tests move by hand, so rate-limit windows pass without sleeping."""

from __future__ import annotations


class ManualClock:
    """Stand in for `time.monotonic`: read by calling it, moved with `advance`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self.now += seconds
