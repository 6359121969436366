"""Channel posts over Discord's REST API with plain aiohttp, so every 429 and failure reaches the delivery layer.

discord.py's HTTPClient retries rate limits and server errors on its own; the outbox needs to see them to
schedule the retry itself and to count invalid requests, so this sender reports instead of retrying.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.core.ports import Failed, RetryLater, SendOutcome, Sent, Unauthorized

log = logging.getLogger(__name__)

NONCE_MAX = 25  # Discord: a message nonce is an integer or a string of at most 25 characters
SERVER_ERROR_BACKOFF = (
    2.0  # seconds to suggest after a 5xx or a network failure, before the outbox's own backoff
)
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
NO_MENTIONS: dict[str, Any] = {"parse": []}


@dataclass(frozen=True, slots=True)
class BucketState:
    """The last rate-limit headers Discord sent for a channel's create-message route."""

    bucket: str | None
    limit: int | None
    remaining: int | None
    reset_after: float | None
    observed_at: float  # time.monotonic() when the headers arrived


def nonce_for(key: str) -> str:
    """Return a stable nonce (≤ 25 characters) for a delivery key, so a retry is recognised as the same post."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:NONCE_MAX]


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _error_text(status: int, data: Any, raw: str) -> str:
    """Return "403 Missing Permissions (code 50013)" from Discord's error body, or the status and raw text."""
    if isinstance(data, dict) and data.get("message"):
        code = f" (code {data['code']})" if data.get("code") is not None else ""
        return f"{status} {data['message']}{code}"
    snippet = " ".join(raw.split())[:120]
    return f"{status} {snippet}" if snippet else f"HTTP {status}"


async def classify(response: aiohttp.ClientResponse) -> SendOutcome:
    """Turn one Discord response into Sent, RetryLater or Failed."""
    raw = await response.text()
    data: Any = None
    if raw:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
    status = response.status
    if 200 <= status < 300:
        message_id = str(data.get("id", "")) if isinstance(data, dict) else ""
        return Sent(message_id=message_id)
    if status == 429:
        body_after = _float(str(data.get("retry_after"))) if isinstance(data, dict) else None
        header_after = _float(response.headers.get("Retry-After"))
        after = body_after if body_after is not None else header_after if header_after is not None else 1.0
        is_global = bool(isinstance(data, dict) and data.get("global")) or (
            response.headers.get("X-RateLimit-Global", "").lower() == "true"
        )
        scope = response.headers.get("X-RateLimit-Scope") or ("global" if is_global else "route")
        if not response.headers.get("Via"):
            # Discord's own 429s come through its proxy; one without Via is Cloudflare blocking the IP.
            return RetryLater(
                after=max(after, 60.0),
                reason="429 from Cloudflare (IP temporarily banned)",
                rate_limited=True,
            )
        return RetryLater(after=after, reason=f"429 rate limited ({scope})", rate_limited=True)
    if status >= 500:
        hint = _float(response.headers.get("Retry-After")) or SERVER_ERROR_BACKOFF
        return RetryLater(after=hint, reason=f"Discord server error: {_error_text(status, data, raw)}")
    if status == 401:
        return Unauthorized("401 Unauthorized: Discord refused the bot token (check NEWSBOT_DISCORD__TOKEN)")
    return Failed(_error_text(status, data, raw))


class DiscordSender:
    """Post create-message bodies to Discord channels; implements the `Sender` port."""

    platform = "discord"

    def __init__(
        self,
        api_base: str,
        token: SecretStr | str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._buckets: dict[str, BucketState] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    def bucket_state(self, channel: str) -> BucketState | None:
        """Return the rate-limit state Discord last reported for posts to `channel`, if any."""
        return self._buckets.get(str(channel))

    async def send(
        self, channel: str, body: dict[str, object], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        """Post `body` to `channel` once; report what happened, never raising."""
        payload: dict[str, object] = {
            **body,
            "allowed_mentions": NO_MENTIONS,
            "nonce": nonce_for(key),
            "enforce_nonce": True,
        }
        url = f"{self.api_base}/channels/{channel}/messages"
        headers = {
            "Authorization": f"Bot {self._token.get_secret_value()}",
            "User-Agent": "DiscordBot (https://github.com/newsbot, 0.1) newsbot",
        }
        try:
            async with self._client().post(
                url, json=payload, headers=headers, timeout=self._timeout
            ) as response:
                self._remember(str(channel), response)
                outcome = await classify(response)
        except TimeoutError:
            outcome = RetryLater(after=SERVER_ERROR_BACKOFF, reason="timed out waiting for Discord")
        except (aiohttp.ClientError, OSError) as exc:
            outcome = RetryLater(
                after=SERVER_ERROR_BACKOFF, reason=f"cannot reach Discord: {type(exc).__name__}"
            )
        except Exception as exc:  # the port promises never to raise; an unexpected bug is a permanent failure
            log.exception("posting to Discord channel %s failed", channel)
            outcome = Failed(f"unexpected error: {type(exc).__name__}")
        if not isinstance(outcome, Sent):
            log.info("discord post to %s: %s", channel, outcome)
        return outcome

    def _remember(self, channel: str, response: aiohttp.ClientResponse) -> None:
        h = response.headers
        if "X-RateLimit-Bucket" not in h and "X-RateLimit-Remaining" not in h:
            return
        self._buckets[channel] = BucketState(
            bucket=h.get("X-RateLimit-Bucket"),
            limit=_int(h.get("X-RateLimit-Limit")),
            remaining=_int(h.get("X-RateLimit-Remaining")),
            reset_after=_float(h.get("X-RateLimit-Reset-After")),
            observed_at=time.monotonic(),
        )

    async def close(self) -> None:
        """Close the HTTP session if this sender opened it."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
            # aiohttp's connector closes its transports on the next loop iteration
            await asyncio.sleep(0)
