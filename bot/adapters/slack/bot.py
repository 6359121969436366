"""The Slack runner: a slack-bolt AsyncApp served over HTTP (signed requests) or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.listen import start_site
from bot.adapters.slack.admins import AdminCheck
from bot.adapters.slack.handlers import CommandHandlers, Responder
from bot.adapters.slack.installations import WorkspaceTokens, state_store
from bot.adapters.slack.manifest import (
    EVENTS_PATH,
    INSTALL_PATH,
    REDIRECT_PATH,
    SlackSetupError,
    check_command_name,
)
from bot.adapters.slack.oauth import RevocationListeners, WorkspaceAuthorize, oauth_settings
from bot.adapters.slack.sender import TOKEN_REJECTED, make_client
from bot.core.commands import CommandTable
from bot.settings import SlackSettings

log = logging.getLogger(__name__)

API_TIMEOUT = 10  # seconds for the app's own Web API calls (auth.test, users.info)
DRAIN_SECONDS = 10.0  # at shutdown, how long answers already acknowledged may take to reach Slack
IDENTITY_RETRY_SECONDS = 60.0  # while auth.test fails, how often a request may ask it again
BODY_MAX = 1_000_000  # bytes: slash commands and button payloads are a few kilobytes


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


class SlackBot:
    """Serve the /news command and its buttons until asked to stop."""

    def __init__(
        self,
        settings: SlackSettings,
        commands: CommandTable,
        *,
        client: AsyncWebClient | None = None,
        workspaces: WorkspaceTokens | None = None,
    ) -> None:
        check_command_name(settings.command)
        self.workspaces = workspaces if settings.oauth else None
        if settings.oauth and workspaces is None:
            raise SlackSetupError("slack: the OAuth install flow needs the installation store (app wiring)")
        if not settings.oauth and not _secret(settings.bot_token):
            raise SlackSetupError("slack: NEWSBOT_SLACK__BOT_TOKEN is not set")
        self.socket_mode = settings.socket_mode
        if not self.socket_mode and not _secret(settings.signing_secret):
            raise SlackSetupError(
                "slack: set NEWSBOT_SLACK__SIGNING_SECRET (HTTP mode) or NEWSBOT_SLACK__APP_TOKEN (Socket Mode)"
            )
        self.settings = settings
        self.client = client or make_client(
            settings.bot_token, settings.api_base, timeout=API_TIMEOUT, retries=True
        )
        self.admins = AdminCheck(self.client, settings.admins)
        self.responder = Responder()
        self._identity: dict[str, Any] | None = None  # auth.test's answer, once Slack has given it
        self._identity_tried = float("-inf")
        # Bolt's own single-workspace authorization calls auth.test on every request until one succeeds
        # and answers each command with an error meanwhile; newsbot already knows its one token, so it
        # authorizes with it and asks auth.test for the bot's ids at most every IDENTITY_RETRY_SECONDS.
        self._bolt_client = AsyncWebClient(base_url=self.client.base_url, timeout=API_TIMEOUT)

        # A plain function: Bolt passes arguments by parameter name and would pass one for `self` too.
        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            return await self._authorize(enterprise_id, team_id, user_id)

        bolt_logger = logging.getLogger("bot.adapters.slack.bolt")
        if self.workspaces is not None:
            # Many workspaces: each request is authorized with its workspace's stored token, and Bolt
            # serves the install flow (kept off the single-workspace app, where it has nothing to do).
            self.app = AsyncApp(
                name="newsbot",
                client=self._bolt_client,
                # Bolt takes an AsyncAuthorize instance beside oauth_settings; its hint names only callables.
                authorize=WorkspaceAuthorize(self.workspaces),  # type: ignore[arg-type]
                oauth_settings=oauth_settings(
                    client_id=settings.client_id or "",
                    client_secret=_secret(settings.client_secret),
                    tokens=self.workspaces,
                    state_store=state_store(self.workspaces.store.engine),
                ),
                signing_secret=_secret(settings.signing_secret),
                ssl_check_enabled=False,
                logger=bolt_logger,
            )
            RevocationListeners(self.workspaces).register(self.app)
        else:
            self.app = AsyncApp(
                name="newsbot",
                client=self._bolt_client,
                authorize=authorize,
                signing_secret=_secret(settings.signing_secret),
                # Bolt answers ssl_check before verifying signatures; without it, every request is verified.
                ssl_check_enabled=False,
                logger=bolt_logger,
            )
        self.handlers = CommandHandlers(commands, self.admins, self.responder, settings.command)
        self.handlers.register(self.app)
        secret = _secret(settings.signing_secret)
        # Socket Mode has no signing secret and no HTTP listener to verify for.
        self._verifier = SignatureVerifier(secret) if secret else None
        self.port: int | None = None  # the bound HTTP port once started (useful with port 0)
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._session: aiohttp.ClientSession | None = None

    def web_app(self) -> web.Application:
        """Return the aiohttp application: POST /slack/events (verified by Bolt) and GET /healthz."""
        web_app = web.Application(client_max_size=BODY_MAX)
        web_app.router.add_post(EVENTS_PATH, self._events)
        web_app.router.add_get("/healthz", self._health)
        if self.workspaces is not None:
            web_app.router.add_get(INSTALL_PATH, self._install)
            web_app.router.add_get(REDIRECT_PATH, self._oauth_redirect)
        return web_app

    async def _install(self, request: web.Request) -> web.StreamResponse:
        # Bolt issues a single-use state (stored in the database, so any replica can finish the flow),
        # sets it as a cookie for this browser and redirects to Slack's consent page.
        flow = self.app.oauth_flow
        if flow is None:  # the install routes exist only in OAuth mode, where Bolt always has a flow
            raise web.HTTPNotFound
        return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

    async def _oauth_redirect(self, request: web.Request) -> web.StreamResponse:
        # Bolt checks the state against this browser's cookie and the store, trades the code for the
        # workspace's tokens (oauth.v2.access), saves them encrypted and shows its completion page.
        flow = self.app.oauth_flow
        if flow is None:
            raise web.HTTPNotFound
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    async def _events(self, request: web.Request) -> web.Response:
        # The signature is checked here, on the raw bytes, before Bolt decodes the body as UTF-8 or a
        # `payload=` as JSON: a forged request with a bad timestamp, bytes or JSON once made Bolt
        # raise (500 and a traceback) before it looked at the signature (issue 10 item 10).
        body = await request.read()
        if not self._signed(body, request.headers):
            return web.json_response({"error": "invalid or missing Slack signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
            bolt_response = await self.app.async_dispatch(bolt_request)
        except (UnicodeDecodeError, ValueError) as error:
            log.warning("slack: refused a signed request Bolt cannot read (%s)", type(error).__name__)
            return web.json_response({"error": "malformed request"}, status=400)
        return await to_aiohttp_response(bolt_response)

    def _signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if self._verifier is None or not timestamp.isascii() or not timestamp.isdigit() or not signature:
            return False
        try:
            return self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except UnicodeDecodeError:
            return False  # the verifier decodes the body first; Slack only ever sends UTF-8

    async def _authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        identity = self._identity
        if identity is None and time.monotonic() - self._identity_tried >= IDENTITY_RETRY_SECONDS:
            identity = await self._ask_identity()
        identity = identity or {}
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or identity.get("team_id"),
            bot_token=_secret(self.settings.bot_token),
            bot_user_id=identity.get("user_id"),
            bot_id=identity.get("bot_id"),
            user_id=user_id,
        )

    async def _ask_identity(self) -> dict[str, Any] | None:
        """Ask auth.test who the bot is; remember the answer, or when it was last tried."""
        self._identity_tried = time.monotonic()
        try:
            response = await self.client.auth_test()
        except (SlackApiError, TimeoutError, aiohttp.ClientError, OSError):
            return None
        self._identity = dict(response.data) if isinstance(response.data, dict) else {}
        return self._identity

    async def _health(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def start(self) -> None:
        """Check the token, then listen on HTTP or connect to Socket Mode."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT))
        self.client.session = self._session
        self._bolt_client.session = self._session
        self.responder.session = self._session
        try:
            if self.workspaces is None:
                await self._check_token()
            if self.socket_mode:
                self._socket = AsyncSocketModeHandler(
                    self.app, app_token=_secret(self.settings.app_token), web_client=self.client
                )
                await self._socket.connect_async()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
                log.info("slack: connected in Socket Mode; command %s", self.settings.command)
            else:
                self._runner, self.port = await start_site(
                    self.web_app(), self.settings.host, self.settings.port
                )
                log.info(
                    "slack: listening on %s:%s%s; command %s%s",
                    self.settings.host,
                    self.port,
                    EVENTS_PATH,
                    self.settings.command,
                    f"; installs at {INSTALL_PATH}" if self.workspaces is not None else "",
                )
        except BaseException:
            await self.close()
            raise

    async def _check_token(self) -> None:
        self._identity_tried = time.monotonic()
        try:
            response = await self.client.auth_test()
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or f"http {exc.response.status_code}")
            if error in TOKEN_REJECTED:
                raise SlackSetupError(
                    f"slack: Slack rejected NEWSBOT_SLACK__BOT_TOKEN ({error}); copy the Bot User OAuth Token "
                    "(xoxb-…) from the app's OAuth & Permissions page"
                ) from None
            log.warning("slack: auth.test failed (%s); starting anyway", error)
            return
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("slack: auth.test did not complete (%s); starting anyway", type(exc).__name__)
            return
        self._identity = dict(response.data) if isinstance(response.data, dict) else {}
        log.info("slack: signed in as %s in %s", response.get("user"), response.get("team"))

    async def close(self) -> None:
        """Stop listening, disconnect and release the HTTP session; safe to call twice."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        await self.handlers.drain(DRAIN_SECONDS)
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down cleanly."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()
