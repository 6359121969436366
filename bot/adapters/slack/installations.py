"""newsbot installed in many Slack workspaces: encrypted installation storage, token refresh, pauses.

slack_sdk's AsyncSQLAlchemyInstallationStore keeps installations in newsbot's database (tables made by
newsbot's migrations). Its tokens are stored in plaintext, so here its token columns are given a column
type that encrypts with Fernet on the way in and decrypts on the way out: every read and write the store
(and Bolt through it) makes is covered, and the raw table never holds a token in clear.

Slack's token rotation (bot tokens that expire after 12 hours, renewed with a single-use refresh
token) is handled by Bolt only while authorizing an incoming request. Scheduled posts never pass
through that path, so `WorkspaceTokens` refreshes for both, under a per-workspace lock held across
every replica: the first to arrive refreshes and saves, the next re-reads and finds the new token
instead of spending the refresh token a second time (Slack would answer `invalid_refresh_token`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Dialect, Text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from bot.core.ports import Clock
from bot.store.tables import SLACK_TOKEN_COLUMNS
from bot.store.workspaces import KeyedLock, SqlWorkspacePauses

log = logging.getLogger(__name__)

PLATFORM = "slack"
# Bolt's default: a token expiring within two hours is refreshed before use. Slack's tokens live 12 h.
REFRESH_BEFORE_MINUTES = 120
STATE_SECONDS = 600  # an install link works for ten minutes (Bolt's default)


class TokenCipher:
    """Fernet encryption with one or more keys: the first encrypts, any of them decrypts."""

    def __init__(self, keys: SecretStr | str) -> None:
        text = keys.get_secret_value() if isinstance(keys, SecretStr) else keys
        self._fernet = MultiFernet([Fernet(k.strip()) for k in text.split(",") if k.strip()])

    def encrypt(self, value: str) -> str:
        """Return the ciphertext of `value`, as URL-safe base64 text."""
        return self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, value: str) -> str:
        """Return the plaintext; a value no key opens raises ValueError naming the setting to check."""
        try:
            return self._fernet.decrypt(value.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise ValueError(
                "a stored Slack token cannot be decrypted with NEWSBOT_SLACK__TOKEN_KEY: keep the key it was "
                "written with in the list (new key first, then the old one)"
            ) from None


class EncryptedText(TypeDecorator[str]):
    """A Text column whose values are encrypted with `cipher` before they reach the database."""

    impl = Text()
    cache_ok = True

    def __init__(self, cipher: TokenCipher) -> None:
        super().__init__()
        self.cipher = cipher

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.cipher.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.cipher.decrypt(value)


class EncryptedInstallationStore(AsyncSQLAlchemyInstallationStore):
    """slack_sdk's async SQLAlchemy store whose token columns are encrypted at rest."""

    def __init__(self, client_id: str, engine: AsyncEngine, cipher: TokenCipher) -> None:
        super().__init__(client_id, engine, logger=logging.getLogger("bot.adapters.slack.store"))
        # The store built its tables on a private MetaData; only their token columns change type, on
        # these private copies (newsbot's own metadata, which Alembic compares against, keeps Text).
        encrypted = EncryptedText(cipher)
        for table in (self.installations, self.bots):
            for name in SLACK_TOKEN_COLUMNS[table.name]:
                table.c[name].type = encrypted


def state_store(engine: AsyncEngine) -> AsyncSQLAlchemyOAuthStateStore:
    """Return the OAuth state store on newsbot's database: a state is single-use and lives STATE_SECONDS."""
    return AsyncSQLAlchemyOAuthStateStore(
        STATE_SECONDS, engine, logger=logging.getLogger("bot.adapters.slack.store")
    )


class WorkspaceTokens:
    """Each workspace's bot token, refreshed before it expires, once across every replica."""

    def __init__(
        self,
        store: AsyncSQLAlchemyInstallationStore,
        rotator: AsyncTokenRotator,
        lock: KeyedLock,
        pauses: SqlWorkspacePauses,
        *,
        clock: Clock = lambda: datetime.now(UTC),
        # Expiry is compared with the epoch clock slack_sdk's rotator itself uses, so the two always agree
        # on whether a token is due (it stores expiry as epoch seconds).
        wall: Callable[[], float] = time.time,
        refresh_before_minutes: int = REFRESH_BEFORE_MINUTES,
    ) -> None:
        self.store = store
        self.rotator = rotator
        self.lock = lock
        self.pauses = pauses
        self.clock = clock
        self.wall = wall
        self.refresh_before_minutes = refresh_before_minutes

    async def bot(self, team_id: str | None, enterprise_id: str | None = None) -> Bot | None:
        """Return the workspace's bot with a token good for the next while, or None if not installed."""
        bot = await self.store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None or not self._expiring(bot):
            return bot
        async with self.lock.hold(f"{enterprise_id or ''}:{team_id or ''}"):
            # Another replica may have refreshed while this one waited: its token is the one to use,
            # and the refresh token this one read is already spent.
            bot = await self.store.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
            if bot is None or not self._expiring(bot):
                return bot
            try:
                refreshed = await self.rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=self.refresh_before_minutes
                )
            except (SlackTokenRotationError, TimeoutError, aiohttp.ClientError, OSError) as error:
                # The current token may still work until it expires; the post will say if it does not.
                log.error("slack: refreshing workspace %s's token failed: %s", team_id, _cause(error))
                return bot
            if refreshed is None:
                return bot
            await self.store.async_save_bot(refreshed)
            log.info("slack: refreshed workspace %s's bot token", team_id)
            return refreshed

    async def token_for(self, workspace: str) -> str | None:
        """Return the bot token to post in `workspace` with, or None when newsbot is not installed there."""
        bot = await self.bot(workspace or None)
        return bot.bot_token if bot is not None else None

    async def unusable(self, workspace: str, why: str) -> None:
        """Pause the workspace's deliveries: it has no installation, or Slack refused its token."""
        count = await self.pauses.pause(PLATFORM, workspace, why, self.clock())
        log.warning(
            "slack: workspace %s paused (%s): %d subscription(s), %d schedule(s), %d queued delivery(ies)",
            workspace,
            why,
            count.subscriptions,
            count.schedules,
            count.deliveries,
        )

    async def installed(self, installation: Installation) -> None:
        """Resume a workspace that (re)installed newsbot."""
        workspace = installation.team_id or ""
        count = await self.pauses.resume(PLATFORM, workspace, self.clock())
        log.info(
            "slack: newsbot installed in workspace %s (%s); resumed %d subscription(s), %d schedule(s), "
            "%d queued delivery(ies)",
            workspace,
            installation.team_name or "?",
            count.subscriptions,
            count.schedules,
            count.deliveries,
        )

    def explain(self, error: BaseException) -> str:
        """Say why looking up a token failed, without echoing anything secret."""
        return explain(error)

    def _expiring(self, bot: Bot) -> bool:
        expires = bot.bot_token_expires_at
        if bot.bot_refresh_token is None or expires is None:
            return False
        return bool(expires <= self.wall() + self.refresh_before_minutes * 60)


def build_workspace_tokens(
    engine: AsyncEngine,
    *,
    client_id: str,
    client_secret: SecretStr,
    token_key: SecretStr,
    client: AsyncWebClient,
    clock: Clock | None = None,
) -> WorkspaceTokens:
    """Wire the encrypted store, the rotator (through `client`, so tests can point it at a fake) and locks."""
    store = EncryptedInstallationStore(client_id, engine, TokenCipher(token_key))
    rotator = AsyncTokenRotator(
        client_id=client_id, client_secret=client_secret.get_secret_value(), client=client
    )
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return WorkspaceTokens(
        store, rotator, KeyedLock(engine, "slack-token-refresh"), SqlWorkspacePauses(engine), **extra
    )


def _cause(error: BaseException) -> str:
    # SlackTokenRotationError wraps the SlackApiError whose message would echo the request; keep the code.
    api_error = getattr(error, "api_error", None)
    data = getattr(getattr(api_error, "response", None), "data", None)
    return str(data.get("error")) if isinstance(data, dict) else type(error).__name__


def explain(error: BaseException) -> str:
    """Say why a workspace's token could not be had, without echoing anything secret."""
    # The cipher's ValueError names the setting to fix; other errors (the database, the network)
    # are named by type, since their text may quote a statement or a request.
    return str(error) if type(error) is ValueError else type(error).__name__
