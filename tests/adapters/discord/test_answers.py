"""Every kind of answer Discord (or what stands in front of it) gives a post, and what the outbox is told.

The loopback Discord answers like Discord; these cases are the odd ones around it — a Cloudflare ban,
a 429 without a body, a proxy's 502 page, a 2xx without JSON — served verbatim by a one-route server,
so each outcome (how long to wait, and the reason an operator reads) is pinned exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.discord.sender import DiscordSender
from bot.core.ports import Failed, RetryLater, SendOutcome, Sent, Unauthorized

VIA = {"Via": "1.1 google"}  # Discord's own answers come through its proxy


@dataclass
class Canned:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def canned() -> AsyncIterator[tuple[Canned, DiscordSender]]:
    answer = Canned()
    release = asyncio.Event()

    async def handler(_request: web.Request) -> web.Response:
        if answer.status == 0:  # a Discord that never answers
            await release.wait()
        return web.Response(status=answer.status, text=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_post("/api/v10/channels/{channel}/messages", handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # One second: long enough never to cut a real answer short on a busy machine, short for a test.
    sender = DiscordSender(
        f"http://127.0.0.1:{port}/api/v10", "token", timeout=aiohttp.ClientTimeout(total=1)
    )
    try:
        yield answer, sender
    finally:
        await sender.close()
        release.set()  # let a hanging handler finish, so the server stops at once
        await runner.cleanup()


JSON = {"Content-Type": "application/json"}

CASES: list[tuple[str, Canned, SendOutcome]] = [
    ("created", Canned(200, '{"id": "77"}', JSON), Sent("77")),
    ("2xx without a body", Canned(204), Sent("")),
    ("2xx that is not JSON", Canned(299, "ok"), Sent("")),
    ("300 is no success", Canned(300, "moved"), Failed("300 moved")),
    (
        "429 with only a Retry-After header",
        Canned(429, "", {**VIA, "Retry-After": "7"}),
        RetryLater(after=7.0, reason="429 rate limited (route)", rate_limited=True),
    ),
    (
        "429 with nothing to go by",
        Canned(429, "", VIA),
        RetryLater(after=1.0, reason="429 rate limited (route)", rate_limited=True),
    ),
    (
        "429 whose body says global",
        Canned(429, '{"retry_after": 0.5, "global": true}', {**VIA, **JSON, "Retry-After": "9"}),
        RetryLater(after=0.5, reason="429 rate limited (global)", rate_limited=True),
    ),
    (
        "429 whose header says global",
        Canned(429, '{"retry_after": 2.5, "global": false}', {**VIA, **JSON, "X-RateLimit-Global": "True"}),
        RetryLater(after=2.5, reason="429 rate limited (global)", rate_limited=True),
    ),
    (
        "429 of a shared bucket",
        Canned(429, '{"retry_after": 3}', {**VIA, **JSON, "X-RateLimit-Scope": "shared"}),
        RetryLater(after=3.0, reason="429 rate limited (shared)", rate_limited=True),
    ),
    (
        "429 from Cloudflare",
        Canned(429, "error code: 1015", {"Retry-After": "5"}),
        RetryLater(after=60.0, reason="429 from Cloudflare (IP temporarily banned)", rate_limited=True),
    ),
    (
        "503 from a proxy with Retry-After",
        Canned(503, "upstream   connect\nerror", {"Retry-After": "9"}),
        RetryLater(after=9.0, reason="Discord server error: 503 upstream connect error"),
    ),
    (
        "502 with Discord's error body",
        Canned(502, '{"message": "Bad gateway", "code": 0}', JSON),
        RetryLater(after=2.0, reason="Discord server error: 502 Bad gateway (code 0)"),
    ),
    ("500 without a body", Canned(500), RetryLater(after=2.0, reason="Discord server error: HTTP 500")),
    (
        "401",
        Canned(401, '{"message": "401: Unauthorized", "code": 0}', JSON),
        Unauthorized("401 Unauthorized: Discord refused the bot token (check NEWSBOT_DISCORD__TOKEN)"),
    ),
    ("402", Canned(402, '{"message": "Payment required"}', JSON), Failed("402 Payment required")),
    ("no answer in time", Canned(0), RetryLater(after=2.0, reason="timed out waiting for Discord")),
    ("a long error page is cut", Canned(418, "x " * 200), Failed("418 " + "x " * 60)),
]


@pytest.mark.parametrize(("answer", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_each_answer_becomes_the_outcome_the_outbox_acts_on(
    canned: tuple[Canned, DiscordSender], answer: Canned, expected: SendOutcome
) -> None:
    current, sender = canned
    current.status, current.body, current.headers = answer.status, answer.body, answer.headers
    assert await sender.send("1300000000000000009", {"embeds": [{"title": "t"}]}, key="k") == expected


async def test_an_unreachable_discord_is_retried_later_naming_the_error() -> None:
    # A port that was just free and is closed again: nobody listens on it.
    runner = web.AppRunner(web.Application(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await runner.cleanup()
    sender = DiscordSender(f"http://127.0.0.1:{port}/api/v10", "token")
    try:
        outcome = await sender.send("1", {"embeds": [{"title": "t"}]}, key="k")
    finally:
        await sender.close()
    assert outcome == RetryLater(after=2.0, reason="cannot reach Discord: ClientConnectorError")
