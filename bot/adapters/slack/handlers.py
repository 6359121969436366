"""The /news command and its buttons: acknowledge, parse, one command-table call, render, answer.

Every answer goes through the request's response_url (ephemeral unless asked otherwise), so Slack's
3-second acknowledgement never waits for the archive. Buttons carry the command that produced the
answer (name, arguments, page) and re-run it: "Post to channel" posts it in_channel, Previous/Next
replace the message with another page. Only read-only commands get buttons, so a crafted or old
button can never change a channel's settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.slack.admins import AdminCheck
from bot.adapters.slack.render import MESSAGE_BLOCKS_MAX, render_reply
from bot.adapters.slack.webhook import quiet_sdk_logger
from bot.core.commands import COMMANDS, CommandTable
from bot.core.invocation import CommandSpec, Invocation, clean_args, parse_command_text
from bot.core.reply import Reply

log = logging.getLogger(__name__)

SHARE_ACTION = "newsbot_share"
PREV_ACTION = "newsbot_prev"
NEXT_ACTION = "newsbot_next"
ACTIONS_BLOCK = "newsbot_actions"
PUBLIC_FLAG = "--public"  # a word anywhere in the text: answer in the channel instead of privately
# Slack accepts at most 5 posts to one response_url (within 30 minutes).
RESPONSE_URL_POSTS_MAX = 5
BUTTON_VALUE_MAX = 2000  # Block Kit button `value` limit
RESPONSE_TIMEOUT = 10
Listener = Callable[[AsyncAck, dict[str, Any], AsyncWebClient | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ActionState:
    """The command behind an answer, carried in its buttons' values."""

    name: str
    args: str
    page: int = 1

    def value(self, page: int | None = None) -> str:
        """Return the button value for this command at `page` (default: the same page)."""
        data = {"c": self.name, "a": self.args, "p": page or self.page}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))[:BUTTON_VALUE_MAX]

    @classmethod
    def parse(cls, value: object) -> ActionState | None:
        """Read a button value back; None when it is not one of newsbot's."""
        if not isinstance(value, str):
            return None
        try:
            data = json.loads(value)
            name, args, page = data["c"], data["a"], data["p"]
        except (ValueError, KeyError, TypeError):
            return None
        if not (isinstance(name, str) and isinstance(args, str) and isinstance(page, int)) or page < 1:
            return None
        return cls(name, args, page)


def split_public(text: str) -> tuple[str, bool]:
    """Remove the `--public` word from a command's text and say whether it was there."""
    words = clean_args(text).split(" ")
    kept = [w for w in words if w.lower() != PUBLIC_FLAG]
    return " ".join(kept), len(kept) != len(words)


def answer_messages(
    reply: Reply,
    *,
    state: ActionState | None,
    shareable: bool,
    public: bool,
    replace: bool = False,
) -> list[dict[str, Any]]:
    """Return the response_url bodies for a reply: rendered blocks, buttons, visibility and replacement."""
    bodies = render_reply(reply)
    buttons: list[dict[str, Any]] = []
    if state is not None and reply.pages > 1:
        if reply.page > 1:
            buttons.append(_button("◀ Previous", PREV_ACTION, state.value(reply.page - 1)))
        if reply.page < reply.pages:
            buttons.append(_button("Next ▶", NEXT_ACTION, state.value(reply.page + 1)))
    if state is not None and shareable and not public:
        buttons.append(_button("Post to channel", SHARE_ACTION, state.value(reply.page), style="primary"))
    if buttons:
        block = {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": buttons}
        if len(bodies[-1]["blocks"]) < MESSAGE_BLOCKS_MAX:
            bodies[-1]["blocks"].append(block)
        else:
            bodies.append({**bodies[-1], "blocks": [block]})
    if len(bodies) > RESPONSE_URL_POSTS_MAX:
        cut = bodies[: RESPONSE_URL_POSTS_MAX - 1]
        cut.append(
            {
                "text": "This answer continues beyond what Slack lets one command show.",
                "blocks": [
                    {
                        "type": "context",
                        "elements": [
                            {
                                "type": "mrkdwn",
                                "text": "This answer is longer than Slack lets one command show; ask for "
                                "less (e.g. a shorter digest period) to see the rest.",
                                "verbatim": True,
                            }
                        ],
                    },
                    *([bodies[-1]["blocks"][-1]] if buttons else []),
                ],
            }
        )
        bodies = cut
    response_type = "in_channel" if public and not reply.private else "ephemeral"
    for i, body in enumerate(bodies):
        body["response_type"] = response_type
        body["replace_original"] = replace and i == 0
    return bodies


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


class Responder:
    """Posts answers to response_url over one shared HTTP session."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def post(self, url: str, bodies: list[dict[str, Any]]) -> bool:
        """Post the bodies in order; False (logged) when Slack refused one or it could not be sent."""
        client = AsyncWebhookClient(
            url, session=self.session, timeout=RESPONSE_TIMEOUT, retry_handlers=[], logger=quiet_sdk_logger()
        )
        for body in bodies:
            try:
                response = await client.send_dict(body)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.warning("slack: posting an answer to response_url failed: %s", type(exc).__name__)
                return False
            if response.status_code != 200:
                log.warning(
                    "slack: response_url refused an answer: %s %s", response.status_code, response.body[:200]
                )
                return False
        return True


class CommandHandlers:
    """Bolt listeners for the umbrella command and the answer buttons."""

    def __init__(
        self, commands: CommandTable, admins: AdminCheck, responder: Responder, command: str = "/news"
    ) -> None:
        self.commands = commands
        self.admins = admins
        self.responder = responder
        self.command = command
        self._specs: dict[str, CommandSpec] = {s.name: s for s in COMMANDS}
        self._inflight: set[asyncio.Task[Any]] = set()

    def register(self, app: AsyncApp) -> None:
        """Attach the listeners to a Bolt app."""
        app.command(self.command)(self._tracked(self.on_command))
        app.action(SHARE_ACTION)(self._tracked(self.on_share))
        app.action(PREV_ACTION)(self._tracked(self.on_page))
        app.action(NEXT_ACTION)(self._tracked(self.on_page))

    def _tracked(
        self, listener: Listener
    ) -> Callable[[AsyncAck, dict[str, Any], AsyncWebClient], Awaitable[None]]:
        # Bolt keeps running a listener after its ack() has answered the HTTP request; tracking the
        # task lets shutdown wait for answers still on their way to response_url. Bolt passes
        # arguments by name: `client` holds the token it authorized this request's workspace with.
        async def run(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._inflight.add(task)
            try:
                await listener(ack, body, client)
            finally:
                if task is not None:
                    self._inflight.discard(task)

        run.__name__ = getattr(listener, "__name__", "listener")
        return run

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for answers still being prepared or posted."""
        pending = {t for t in self._inflight if not t.done() and t is not asyncio.current_task()}
        if pending:
            await asyncio.wait(pending, timeout=seconds)

    def _shareable(self, name: str) -> bool:
        spec = self._specs.get(name)
        return spec is not None and not spec.admin_only

    async def on_command(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient | None = None
    ) -> None:
        """Answer `/news …`: acknowledge at once, then answer through response_url."""
        await ack()
        url = body.get("response_url")
        if not isinstance(url, str) or not url:
            log.warning("slack: a %s request had no response_url; nothing to answer", self.command)
            return
        text, public = split_public(str(body.get("text") or ""))
        name, args = parse_command_text(text)
        name = name or "help"
        user = _str(body.get("user_id"))
        team = _str(body.get("team_id"))
        spec = self._specs.get(name)
        # users.info only when the answer depends on it: admin-only commands.
        is_admin = bool(
            spec and spec.admin_only and user and await self.admins.is_admin(user, team, client=client)
        )
        inv = Invocation(
            "slack",
            name,
            args,
            workspace=team,
            channel=_str(body.get("channel_id")),
            user=user,
            is_admin=is_admin,
            private=False if public else None,
        )
        reply = await self.commands.run(inv)
        state = ActionState(name, args) if spec is not None else None
        shareable = self._shareable(name) and reply.tone != "error"
        await self.responder.post(
            url, answer_messages(reply, state=state, shareable=shareable, public=public)
        )

    async def on_share(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient | None = None
    ) -> None:
        """Post the answer behind a "Post to channel" button to the channel, for everyone."""
        await ack()
        await self._rerun(body, share=True)

    async def on_page(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient | None = None
    ) -> None:
        """Replace an answer with the page a Previous/Next button names."""
        await ack()
        await self._rerun(body, share=False)

    async def _rerun(self, body: dict[str, Any], *, share: bool) -> None:
        url = body.get("response_url")
        if not isinstance(url, str) or not url:
            log.warning("slack: a button press had no response_url; nothing to answer")
            return
        actions = body.get("actions") or [{}]
        state = ActionState.parse(actions[0].get("value") if isinstance(actions[0], dict) else None)
        if state is None or not self._shareable(state.name):
            gone = Reply(title="This button no longer works", text="Run the command again.", tone="warning")
            await self.responder.post(url, answer_messages(gone, state=None, shareable=False, public=False))
            return
        container = body.get("container") or {}
        public = share or not bool(container.get("is_ephemeral", True))
        inv = Invocation(
            "slack",
            state.name,
            state.args,
            workspace=_str((body.get("team") or {}).get("id")),
            channel=_str((body.get("channel") or {}).get("id")),
            user=_str((body.get("user") or {}).get("id")),
            page=state.page,
            private=False if public else None,
        )
        reply = await self.commands.run(inv)
        messages = answer_messages(
            reply,
            state=state,
            shareable=reply.tone != "error",
            public=public,
            replace=not share,
        )
        await self.responder.post(url, messages)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
