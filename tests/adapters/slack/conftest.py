"""Fixtures: a running fake Slack, and a caplog that records everything (DEBUG included)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack

SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN)


class FakeClock:
    """A monotonic clock that tests advance by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def slack(clock: FakeClock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(clock=clock) as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_secrets_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Record every log record of the test at DEBUG, then fail if a token or the secret appears in one."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage() + " " + (record.exc_text or "")
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into the log ({record.name}): {text[:200]}"
