"""Post rendered messages to Slack channels with chat.postMessage, reporting what happened."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import aiohttp
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.ports import Failed, RetryLater, SendOutcome, Sent, Unauthorized

log = logging.getLogger(__name__)

DELIVERY_EVENT = "newsbot_delivery"  # message metadata event_type: which delivery a post carries
TRANSIENT_BACKOFF = 5.0  # seconds: a hint for 5xx, timeouts and Slack's own "try again" errors
DEFAULT_RETRY_AFTER = 1.0  # a 429 without Retry-After (Slack always sends one; be safe)
SEND_TIMEOUT = 15  # seconds for one chat.postMessage call
# Error codes Slack documents as passing conditions; every other error code is final for this message.
# Errors Slack gives for a token that will never work (auth.test at start, any call later); anything
# else (5xx, network) may pass.
TOKEN_REJECTED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)
# Keys of a rendered body that chat.postMessage receives; anything else (e.g. link_names) is dropped.
BODY_KEYS = ("text", "blocks", "unfurl_links", "unfurl_media", "thread_ts", "reply_broadcast")


def _secret(value: SecretStr | str | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def make_client(
    token: SecretStr | str | None, api_base: str, *, timeout: int, retries: bool = False
) -> AsyncWebClient:
    """Build an AsyncWebClient for `api_base`; without `retries` no request is ever repeated silently."""
    return AsyncWebClient(
        token=_secret(token),
        base_url=api_base,  # slack_sdk adds the trailing slash the method names are joined to
        timeout=timeout,
        # slack_sdk's default retries a failed connection once; a repeated postMessage can post twice,
        # so the sender decides about retries itself (the outbox retries with the same key).
        retry_handlers=None if retries else [],
    )


class WorkspaceTokenSource(Protocol):
    """Where a sender for many workspaces finds each one's token, and says when one cannot be used."""

    async def token_for(self, workspace: str) -> str | None:
        """Return the workspace's bot token (refreshed if it was about to expire), None if not installed."""
        ...

    async def unusable(self, workspace: str, why: str) -> None:
        """Pause everything queued for the workspace, with `why` as the reason."""
        ...

    def explain(self, error: BaseException) -> str:
        """Say why looking up a token failed, without echoing anything secret."""
        ...


class SlackSender:
    """The Slack side of delivery: one chat.postMessage per body, tagged with the delivery key.

    With one bot token it posts everywhere with it. With `workspaces` (newsbot installed in many
    workspaces) each post uses its workspace's own token, and a workspace whose installation is gone
    or whose token Slack refuses is paused on its own, while every other workspace keeps posting.
    """

    platform = "slack"

    def __init__(
        self,
        bot_token: SecretStr | str | None,
        *,
        api_base: str = "https://slack.com/api/",
        client: AsyncWebClient | None = None,
        workspaces: WorkspaceTokenSource | None = None,
    ) -> None:
        self.client = client if client is not None else make_client(bot_token, api_base, timeout=SEND_TIMEOUT)
        if client is not None and not client.token and bot_token is not None:
            client.token = _secret(bot_token)
        self.workspaces = workspaces

    async def send(
        self, channel: str, body: dict[str, object], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        """Post `body` to `channel`; say Sent(ts), RetryLater(after) or Failed(reason), never raise."""
        args: dict[str, Any] = {k: body[k] for k in BODY_KEYS if k in body}
        args["channel"] = channel
        args["metadata"] = {"event_type": DELIVERY_EVENT, "event_payload": {"delivery": key}}
        if self.workspaces is not None:
            try:
                token = await self.workspaces.token_for(workspace)
                if token is None:
                    why = f"newsbot is not installed in Slack workspace {workspace or '(none)'}; install it there to resume"
                    await self.workspaces.unusable(workspace, why)
                    return RetryLater(TRANSIENT_BACKOFF, why)
            except Exception as exc:  # a sender never raises: the database or Slack's refresh failed
                why = f"no token for workspace {workspace}: {self.workspaces.explain(exc)}"
                log.warning("slack: %s", why)
                return RetryLater(TRANSIENT_BACKOFF, why)
            args["token"] = token  # slack_sdk sends it as the Authorization header of this call only
        try:
            response = await self.client.api_call("chat.postMessage", json=args)
        except SlackApiError as exc:
            code = _error_code(exc)
            if self.workspaces is not None and code in TOKEN_REJECTED:
                # One workspace's token is not the bot's: pause that workspace, not all of Slack.
                why = f"Slack refused the token of workspace {workspace} ({code}); install newsbot there again to resume"
                log.error("slack: %s", why)
                await self._pause(self.workspaces, workspace, why)
                return RetryLater(TRANSIENT_BACKOFF, why)
            return _outcome_of(exc, channel)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # The request may or may not have reached Slack; the delivery key in the metadata lets
            # an operator reconcile a rare double post.
            log.warning("slack: chat.postMessage to %s did not complete: %s", channel, type(exc).__name__)
            return RetryLater(TRANSIENT_BACKOFF, f"network: {type(exc).__name__}")
        except Exception as exc:  # a sender never raises: anything unexpected is reported, not thrown
            log.exception("slack: chat.postMessage to %s failed unexpectedly", channel)
            return Failed(f"unexpected error: {type(exc).__name__}")
        ts = response.get("ts") if isinstance(response.data, dict) else None
        return Sent(str(ts or ""))

    async def _pause(self, workspaces: WorkspaceTokenSource, workspace: str, why: str) -> None:
        try:
            await workspaces.unusable(workspace, why)
        except Exception as exc:  # the database is down: the row is retried, and refused again, later
            log.warning("slack: pausing workspace %s failed: %s", workspace, type(exc).__name__)


def _status_and_data(exc: SlackApiError) -> tuple[int, dict[str, Any]]:
    response = exc.response
    if isinstance(response, AsyncSlackResponse):
        return response.status_code, response.data if isinstance(response.data, dict) else {}
    # slack_sdk raises with aiohttp's own response when a body labelled JSON does not parse (a proxy's
    # error page, say); it has a status and no parsed data.
    return int(getattr(response, "status", 0) or 0), {}


def _error_code(exc: SlackApiError) -> str:
    status, data = _status_and_data(exc)
    return str(data.get("error") or f"http {status}")


def _outcome_of(exc: SlackApiError, channel: str) -> SendOutcome:
    response = exc.response
    status, data = _status_and_data(exc)
    error = _error_code(exc)
    if status == 429 or error == "ratelimited":
        after = _retry_after(response.headers)
        log.info("slack: rate limited posting to %s; retry after %.0fs", channel, after)
        return RetryLater(after, "rate limited by Slack", rate_limited=True)
    if status >= 500 or error in TRANSIENT_ERRORS:
        log.warning("slack: chat.postMessage to %s: passing failure (%s)", channel, error)
        return RetryLater(TRANSIENT_BACKOFF, f"Slack error: {error}")
    if error in TOKEN_REJECTED:
        log.error("slack: chat.postMessage refused the bot token (%s)", error)
        return Unauthorized(f"Slack refused the bot token ({error}): check NEWSBOT_SLACK__BOT_TOKEN")
    detail = ", ".join(str(m) for m in (data.get("response_metadata") or {}).get("messages", [])[:3])
    log.warning("slack: chat.postMessage to %s refused: %s %s", channel, error, detail)
    return Failed(error + (f" ({detail})" if detail else ""))


def _retry_after(headers: Any) -> float:
    """Read Retry-After (aiohttp's headers are case-blind); absent or unreadable, wait the default."""
    try:
        return max(0.0, float(headers.get("Retry-After")))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
