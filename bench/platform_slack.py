"""Slack figures: the real Bolt app served in-process, signed `/news topic …` requests, a loopback Slack.

`slack_ack_*` is request → HTTP acknowledgement (Slack's 3-second rule); `slack_answer_*` is request →
the answer's body arriving at response_url. Figures, not assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import time

import aiohttp

from bot.adapters.slack.bot import SlackBot
from bot.app import App
from bot.settings import SlackSettings
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, signed_headers, slash_command

QUERIES = [
    "drones", "ai", "semiconductors", "critical-minerals", "uav", "chips", "rare earths", "tariffs",
    "drnoes", "export controls", "energy", "climate", "certification protocols", "market access review",
]  # fmt: skip
CONCURRENCY = 4  # requests in flight, as a few people typing at once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def measure(app: App, requests: int = 1000) -> dict[str, float]:
    """Serve `app` through the Slack adapter and time `requests` signed /news topic commands."""
    acks: list[float] = []
    answers: list[float] = []
    async with FakeSlack() as slack:
        settings = SlackSettings(
            bot_token=BOT_TOKEN,
            signing_secret=SIGNING_SECRET,
            host="127.0.0.1",
            port=_free_port(),
            api_base=slack.api_base,
            command=app.settings.slack.command,
        )
        bot = SlackBot(settings, app.commands)
        await bot.start()
        try:
            url = f"http://127.0.0.1:{bot.port}/slack/events"
            numbers = itertools.count()
            async with aiohttp.ClientSession() as session:

                async def worker() -> None:
                    while (n := next(numbers)) < requests:
                        rid = f"bench-{n}"
                        body = slash_command(f"topic {QUERIES[n % len(QUERIES)]}", slack.response_url(rid))
                        started = time.perf_counter()
                        async with session.post(url, data=body.encode(), headers=signed_headers(body)) as r:
                            await r.read()
                            if r.status != 200:
                                raise RuntimeError(f"slack bench: request {n} got HTTP {r.status}")
                        acks.append(time.perf_counter() - started)
                        await slack.wait_for_responses(rid, within=60)
                        answers.append(slack.first_response_at[rid] - started)

                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        finally:
            await bot.close()
    return {
        "slack_ack_p50_ms": round(_p(acks, 50) * 1000, 2),
        "slack_ack_p99_ms": round(_p(acks, 99) * 1000, 2),
        "slack_answer_p50_ms": round(_p(answers, 50) * 1000, 2),
        "slack_answer_p99_ms": round(_p(answers, 99) * 1000, 2),
    }
