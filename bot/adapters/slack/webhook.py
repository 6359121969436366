"""Post rendered messages through a Slack incoming webhook: post-only mode, no bot token needed."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.core.ports import Failed, RetryLater, SendOutcome, Sent

log = logging.getLogger(__name__)

WEBHOOK_KEYS = ("text", "blocks", "unfurl_links", "unfurl_media")  # what an incoming webhook accepts
RATE_LIMIT_RETRIES = 3  # a 429 is waited out this many times per message (Slack: ~1 message/s per hook)
RATE_LIMIT_WAIT_MAX = 30.0  # seconds; a longer Retry-After is reported instead of waited out
TRANSIENT_BACKOFF = 5.0
TIMEOUT = 15


def check_webhook_url(url: str) -> str:
    """Return `url` if it can be an incoming webhook, else raise ValueError (never echoing its secret path)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    loopback = host == "localhost" or _is_loopback_ip(host)
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            "--slack-webhook: not a URL; copy the incoming webhook URL from the Slack app's "
            "Incoming Webhooks page (https://hooks.slack.com/services/…)"
        )
    if parts.scheme == "http" and not loopback:
        raise ValueError(f"--slack-webhook: use https:// (the URL for {host} carries a secret)")
    if not parts.path.strip("/"):
        raise ValueError(f"--slack-webhook: the URL for {host} has no path; copy the whole webhook URL")
    return url.strip()


def quiet_sdk_logger() -> logging.Logger:
    """Return the logger for slack_sdk's webhook clients: at DEBUG they log the URL, whose path is a secret."""
    logger = logging.getLogger("bot.adapters.slack.sdk")
    if logger.level == logging.NOTSET or logger.level < logging.INFO:
        logger.setLevel(logging.INFO)
    return logger


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def post_webhook(url: str, bodies: list[dict[str, Any]]) -> list[SendOutcome]:
    """Post each body in order; after a body fails, the rest are not sent (a split message stays whole)."""
    target = check_webhook_url(url)
    outcomes: list[SendOutcome] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        client = AsyncWebhookClient(
            target, session=session, timeout=TIMEOUT, retry_handlers=[], logger=quiet_sdk_logger()
        )
        for body in bodies:
            if outcomes and not isinstance(outcomes[-1], Sent):
                outcomes.append(Failed("not sent: an earlier part of this message was not posted"))
                continue
            outcomes.append(await _post_one(client, {k: body[k] for k in WEBHOOK_KEYS if k in body}))
    return outcomes


async def _post_one(client: AsyncWebhookClient, body: dict[str, Any]) -> SendOutcome:
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            response = await client.send_dict(body)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("slack webhook: post did not complete: %s", type(exc).__name__)
            return RetryLater(TRANSIENT_BACKOFF, f"network: {type(exc).__name__}")
        status = response.status_code
        if status == 200:
            return Sent("webhook")
        reason = (response.body or "").strip()[:200] or f"http {status}"
        if status == 429:
            after = _retry_after(response.headers)
            if attempt < RATE_LIMIT_RETRIES and after <= RATE_LIMIT_WAIT_MAX:
                log.info("slack webhook: rate limited; waiting %.0fs", after)
                await asyncio.sleep(after)
                continue
            return RetryLater(after, "rate limited by Slack", rate_limited=True)
        if status >= 500:
            return RetryLater(TRANSIENT_BACKOFF, f"Slack error: {reason}")
        # 400 invalid_payload, 403 action_prohibited, 404 no_service/channel_not_found, 410 channel_is_archived
        return Failed(reason)
    raise AssertionError("unreachable: the loop returns on its last attempt")


def _retry_after(headers: Any) -> float:
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else 1.0
    except (AttributeError, TypeError, ValueError):
        return 1.0
