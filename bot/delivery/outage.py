"""One log line when a loop's database goes away and one when it is back, instead of a traceback per round.

A database outage makes every tick, lease and scan fail the same way, once a second or more; logging
each with its traceback buried the one line that mattered (issue 10 item 11). A failure that is not
the database's keeps its traceback, once per run of failures, because it is a bug to read.
"""

from __future__ import annotations

import logging

from bot.store.engine import StoreError


class OutageLog:
    """Report the first failure of a loop and its recovery; stay quiet in between."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self.what = what
        self.log = logger
        self.failures = 0  # rounds failed in a row

    def failed(self, error: Exception) -> None:
        """Note one failed round; only the first of a run is logged."""
        self.failures += 1
        if self.failures > 1:
            return
        if isinstance(error, StoreError):
            self.log.error(
                "%s: the database is unavailable (%s); retrying quietly until it is back", self.what, error
            )
        else:
            self.log.exception("%s failed; retrying quietly until it works", self.what)

    def succeeded(self) -> None:
        """Note one round that worked; the end of an outage is logged once."""
        if self.failures:
            self.log.warning(
                "%s: the database is available again after %d failed rounds", self.what, self.failures
            )
            self.failures = 0
