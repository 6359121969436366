"""Fixtures: a running fake Slack, and a caplog that records everything (DEBUG included)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.clock import ManualClock as FakeClock  # the Slack tests import it from here
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack

SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN)


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
