"""Who may change a channel's alerts and schedule on Slack: listed users, workspace admins and owners."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0  # a demoted admin loses rights within a minute; a burst of commands costs one lookup
CACHE_MAX = 10_000


class AdminCheck:
    """Answer "is this user an admin?" from the configured list, else users.info (cached briefly)."""

    def __init__(
        self,
        client: AsyncWebClient,
        listed: Iterable[str],
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.listed = frozenset(u.strip() for u in listed if u.strip())
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}

    async def is_admin(
        self, user: str, team: str | None = None, *, client: AsyncWebClient | None = None
    ) -> bool:
        """Return whether `user` may run admin-only commands; a failed lookup means no.

        `client` carries the token of the request's workspace when newsbot is installed in several.
        """
        if user in self.listed:
            return True
        key = (team or "", user)
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            response = await (client or self.client).users_info(user=user)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            log.warning(
                "slack: users.info for %s failed (%s); treating as not an admin", user, data.get("error")
            )
            return False
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("slack: users.info for %s did not complete (%s)", user, type(exc).__name__)
            return False
        info = response.get("user") or {}
        admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (now, admin)
        return admin
