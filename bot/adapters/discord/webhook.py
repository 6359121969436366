"""Post-only mode: send rendered bodies to a Discord incoming webhook (no bot, no gateway)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from typing import Any

import aiohttp
from yarl import URL

from bot.adapters.discord.sender import DEFAULT_TIMEOUT, NO_MENTIONS, SERVER_ERROR_BACKOFF, classify
from bot.core.ports import Failed, RetryLater, SendOutcome, Sent

log = logging.getLogger(__name__)

DISCORD_HOSTS = {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}
_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/\d{5,25}/[A-Za-z0-9_\-]{1,200}/?$")
MAX_ATTEMPTS = 5  # per body: rate limits and server errors are waited out, a few times
MAX_WAIT = 60.0  # seconds; a longer rate limit is reported rather than slept through


def check_webhook_url(url: str) -> URL:
    """Return the parsed URL of a Discord webhook, or raise ValueError saying what is wrong with it."""
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        raise ValueError("the Discord webhook URL is not a URL") from None
    host = (parsed.host or "").lower()
    loopback = _is_loopback(host)
    if parsed.scheme == "https" and host in DISCORD_HOSTS:
        pass
    elif parsed.scheme in ("http", "https") and loopback:
        pass  # a local fake or proxy, used by tests
    else:
        raise ValueError(
            "not a Discord webhook URL: expected https://discord.com/api/webhooks/ID/TOKEN "
            "(copy it from Server Settings → Integrations → Webhooks)"
        )
    if not _PATH.search(parsed.path):
        raise ValueError("not a Discord webhook URL: the path must be /api/webhooks/ID/TOKEN")
    unexpected = set(parsed.query) - {"thread_id", "wait"}
    if unexpected:
        raise ValueError(
            f"the Discord webhook URL has unexpected parameters: {', '.join(sorted(unexpected))}"
        )
    return parsed


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def post_webhook(
    url: str,
    bodies: list[dict[str, Any]],
    *,
    session: aiohttp.ClientSession | None = None,
    attempts: int = MAX_ATTEMPTS,
) -> list[SendOutcome]:
    """Post each body to the webhook in order, one outcome per body; after a failure the rest are not sent."""
    target = check_webhook_url(url).update_query(wait="true")
    own = session is None
    client = session or aiohttp.ClientSession(timeout=DEFAULT_TIMEOUT)
    outcomes: list[SendOutcome] = []
    try:
        for body in bodies:
            if outcomes and not isinstance(outcomes[-1], Sent):
                outcomes.append(Failed("not sent: an earlier message of this post failed"))
                continue
            outcomes.append(
                await _post_one(client, target, {**body, "allowed_mentions": NO_MENTIONS}, attempts)
            )
    finally:
        if own:
            await client.close()
    return outcomes


async def _post_one(
    client: aiohttp.ClientSession, target: URL, body: dict[str, Any], attempts: int
) -> SendOutcome:
    # Webhooks take no nonce, so only failures that certainly posted nothing are retried: a 429 and a
    # connection that never opened. A timeout or 5xx may have posted; it is reported, not repeated.
    outcome: SendOutcome = Failed("not attempted")
    for _attempt in range(max(1, attempts)):
        retry = False
        try:
            async with client.post(target, json=body) as response:
                outcome = await classify(response)
            retry = isinstance(outcome, RetryLater) and outcome.rate_limited
        except TimeoutError:
            outcome = RetryLater(after=SERVER_ERROR_BACKOFF, reason="timed out waiting for Discord")
        except aiohttp.ClientConnectorError as exc:
            outcome = RetryLater(
                after=SERVER_ERROR_BACKOFF, reason=f"cannot reach Discord: {type(exc).__name__}"
            )
            retry = True
        except (aiohttp.ClientError, OSError) as exc:
            outcome = RetryLater(
                after=SERVER_ERROR_BACKOFF, reason=f"connection to Discord failed: {type(exc).__name__}"
            )
        if not retry or not isinstance(outcome, RetryLater) or outcome.after > MAX_WAIT:
            return outcome
        log.info("discord webhook: %s; retrying in %.2fs", outcome.reason, outcome.after)
        await asyncio.sleep(outcome.after)
    return outcome
