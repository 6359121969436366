"""Slack thread replies: each reply is a chat.postMessage under the parent's `ts`, never broadcast.

Slack has no idempotency key. The parent's `ts` is recorded the moment Slack returns it, so a crash
afterwards posts no reply twice; a reply whose request may have reached Slack without an answer (the
connection dropped) is not sent again blindly: bot tokens cannot read a channel's thread replies back
(conversations.replies), so newsbot cannot check, and it stops with the reason for a person to decide.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.adapters.slack.sender import SlackSender
from bot.core.ports import Failed, RetryLater, SendOutcome, Unauthorized
from bot.core.threads import ChannelShape

# SlackSender reports a request that left but got no answer as RetryLater("network: …"): Slack may
# have posted it. Other passing failures (429, Slack's own error codes) mean it did not.
AMBIGUOUS_PREFIX = "network:"
REPLIES = ChannelShape("replies")


class SlackThreads:
    """Reply under a parent message; implements `ThreadApi` (Slack has no thread or forum to create)."""

    platform = "slack"

    def __init__(self, sender: SlackSender) -> None:
        self.sender = sender

    def thread_request(self, name: str) -> dict[str, Any]:
        """Slack threads need no request of their own: replies name their parent."""
        return {}

    def post_request(
        self, shape: ChannelShape, name: str, message: dict[str, Any], labels: list[str]
    ) -> dict[str, Any]:
        """Slack has no forums: the post is the message itself."""
        return message

    async def shape(
        self, channel: str, guild: str | None = None
    ) -> ChannelShape | RetryLater | Failed | Unauthorized:
        """Every Slack conversation takes replies under a message's ts."""
        return REPLIES

    async def start_thread(self, channel: str, message_id: str, body: dict[str, Any]) -> SendOutcome:
        """Never asked for: a reply's thread_ts starts the thread."""
        return Failed("Slack threads are started by their first reply")

    async def create_post(self, forum: str, body: dict[str, Any]) -> SendOutcome:
        """Never asked for: Slack has no forum channels."""
        return Failed("Slack has no forum channels")

    async def find_post(self, guild: str, forum: str, name: str, since: datetime) -> SendOutcome | None:
        """Never asked for: Slack has no forum channels."""
        return None

    async def reply(
        self, channel: str, anchor: str, body: dict[str, Any], *, key: str, workspace: str = ""
    ) -> SendOutcome:
        """Post `body` under the message whose ts is `anchor`, visible in the thread only."""
        outcome = await self.sender.send(
            channel, {**body, "thread_ts": anchor, "reply_broadcast": False}, key=key, workspace=workspace
        )
        if isinstance(outcome, RetryLater) and outcome.reason.startswith(AMBIGUOUS_PREFIX):
            return Failed(
                f"Slack did not answer a thread reply ({outcome.reason}); it may or may not be in the "
                "thread, and Slack has no idempotency key, so it is not posted again blindly: look at "
                "the thread, then retry the delivery if the reply is missing"
            )
        return outcome
