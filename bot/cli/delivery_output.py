"""How `newsbot digest`, `newsbot render` and the demo show a delivery: the brief, then its thread.

They print the plan the sender posts (bot/core/layout.py), rendered by the same platform renderer,
so `--json` shows exactly the bodies a channel and its thread receive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from bot.core.digest import Digest
from bot.core.layout import ChannelLayout, Layout, Plan, RenderReply, plan_digest
from bot.core.rendered import Rendered

# The options `digest`, `render` and `post` share: the channel settings to show a digest under.
LayoutOption = Annotated[
    Layout, typer.Option(help="compact: a card per story; full: every story's whole text.")
]
ThreadsOption = Annotated[
    bool, typer.Option("--threads/--no-threads", help="With compact: every story in full in a thread.")
]


def channel_layout(layout: Layout, threads: bool) -> ChannelLayout:
    """Return the settings named on the command line."""
    return ChannelLayout(layout=layout, threads=threads)


def digest_plan(digest: Digest, settings: ChannelLayout, labels: dict[str, str]) -> Plan:
    """Return what a channel with `settings` would be posted for `digest` today."""
    return plan_digest(digest, settings, day=datetime.now().astimezone(), labels=labels)


def renderer(platform: Literal["discord", "slack"]) -> RenderReply:
    """Return the platform's reply renderer, the one its sender's bodies come from."""
    if platform == "discord":
        from bot.adapters.discord.render import render_reply as discord_render

        return discord_render
    from bot.adapters.slack.render import render_reply as slack_render

    return slack_render


def rendered_document(rendered: Rendered) -> dict[str, Any]:
    """Return a delivery as `--json` prints it: the channel's bodies, the thread's, and the thread's name."""
    return {
        "channel": rendered.channel,
        "thread": rendered.thread,
        "thread_name": rendered.thread_name,
        "topics": list(rendered.topics),
    }


def print_plan_text(console: Console, plan: Plan) -> None:
    """Print the brief as the terminal shows replies, then the thread under a rule naming it."""
    from bot.adapters.console.render import render_reply

    for reply in plan.channel:
        console.print(render_reply(reply), soft_wrap=False)  # panels wrap their text; soft wrap crops
    if plan.thread:
        console.rule(f"thread · {plan.thread_name or ''}".strip(" ·"))
        for reply in plan.thread:
            console.print(render_reply(reply), soft_wrap=False)
