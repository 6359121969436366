"""Post a delivery as a brief in the channel and its detail in a thread, one outbox row per step.

`plan` runs when a row is first rendered: it asks the platform how the channel takes threads and returns
the parent's bodies plus the steps to queue behind it in the same transaction (bot/store/thread_rows.py
says why that is crash-safe). `post` sends one step when its row is leased:

- Slack: each reply under the parent's `ts`.
- Discord text channel: a thread started from the parent message (the thread's id is the message's, and
  Discord answers a second try with 160004, taken as success), then each reply in it with a nonce.
- Discord forum: the parent is a new post (name, first message, tags chosen by the stories' topics);
  the rest follow in it. A forum post has no nonce, so the intent is recorded before the request and a
  retry looks for the post among the guild's active threads before creating another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from bot.core.ports import Clock, Failed, RetryLater, SendOutcome, Unauthorized
from bot.core.rendered import Body, Rendered
from bot.core.threads import ChannelShape, ThreadApi
from bot.store.outbox import Also, Delivery
from bot.store.thread_rows import SqlThreadRows, StepRow, queue_steps

# Steps whose requests are not channel posts: thread creation has its own limit, shared per guild, with
# 429s of minutes; fed to the channel's limiter, such a wait would hold every post to the channel asleep.
UNPACED_STEPS = frozenset({"thread", "forum"})
NO_ANCHOR = "the parent message of this thread has no recorded id"

Fault = Callable[[str, Delivery, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Plan:
    """What to freeze on a row: its bodies, its own step, and the rows to queue behind it."""

    delivery: Delivery
    bodies: list[Body]
    then: Also | None = None


class Threads:
    """Plan thread steps at render time and post them when leased."""

    def __init__(
        self,
        apis: Mapping[str, ThreadApi],
        rows: SqlThreadRows,
        *,
        clock: Clock,
        owner: str,
        labels: Mapping[str, str],
        default_name: str = "News digest",
        faults: Fault | None = None,
    ) -> None:
        self.apis = dict(apis)
        self.rows = rows
        self.clock = clock
        self.owner = owner
        self.labels = dict(labels)
        self.default_name = default_name
        self.faults = faults

    async def plan(self, delivery: Delivery, rendered: Rendered) -> Plan | RetryLater | Failed | Unauthorized:
        """Return the parent's bodies and the steps behind it, or why the channel cannot be asked now."""
        api = self.apis.get(delivery.key.platform)
        if api is None:
            return Plan(delivery, rendered.bodies)  # no threads here (console, webhooks): all in the channel
        shape = await api.shape(delivery.key.channel, delivery.key.workspace or None)
        if not isinstance(shape, ChannelShape):
            return shape
        if shape.style == "none":
            return Plan(delivery, rendered.bodies)
        now = self.clock()
        name = rendered.thread_name or self.default_name
        replies = [StepRow("reply", body) for body in rendered.thread]
        if shape.style == "forum":
            labels = [self.labels.get(t, t) for t in rendered.topics]
            post = api.post_request(shape, name, rendered.channel[0], labels)
            rest = [StepRow("reply", body) for body in rendered.channel[1:]] + replies
            return Plan(
                replace(delivery, step="forum"), [post], queue_steps(delivery, rest, now, parent_step="forum")
            )
        if not replies:
            return Plan(delivery, rendered.channel)
        if shape.style == "thread":
            replies.insert(0, StepRow("thread", api.thread_request(name)))
        return Plan(delivery, rendered.channel, queue_steps(delivery, replies, now, parent_step=None))

    async def post(self, delivery: Delivery, part: int, body: Body) -> SendOutcome:
        """Send one thread step of a leased row (a thread, a forum post or a reply)."""
        api = self.apis.get(delivery.key.platform)
        if api is None:
            return Failed(f"newsbot cannot post threads on {delivery.key.platform}")
        if self.faults is not None:
            await self.faults("before_post", delivery, part)
        channel = delivery.key.channel
        if delivery.step == "forum":
            return await self._forum_post(api, delivery, body)
        anchor = await self.rows.anchor(delivery.thread_of or "")
        if anchor is None:
            return Failed(NO_ANCHOR)
        if delivery.step == "thread":
            return await api.start_thread(channel, anchor, body)
        return await api.reply(
            channel, anchor, body, key=delivery.part_key(part), workspace=delivery.key.workspace
        )

    async def _forum_post(self, api: ThreadApi, delivery: Delivery, body: Body) -> SendOutcome:
        channel = delivery.key.channel
        if delivery.intent_at is not None:
            # An earlier try may have created the post and died before recording it.
            found = await api.find_post(
                delivery.key.workspace, channel, str(body.get("name")), delivery.intent_at
            )
            if found is not None:
                return found
        if not await self.rows.note_intent(delivery, self.owner, self.clock()):
            return RetryLater(0.0, "lease lost before the forum post was created")
        return await api.create_post(channel, body)
