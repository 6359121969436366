"""Fixtures: a running fake Slack, a caplog that records everything (DEBUG included), a server that never answers."""

from __future__ import annotations

import asyncio
import contextlib
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


@contextlib.asynccontextmanager
async def stalled_server() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """A loopback server that takes every request and never answers: its base URL and the held connections."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", held
    finally:
        server.close()
        for writer in held:
            writer.close()
