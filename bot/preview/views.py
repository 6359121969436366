"""Request bodies turned into what the templates draw: Discord embeds and Slack blocks, text as safe HTML.

These functions read a body the way the platform's client does and tolerate what a client would
ignore (a missing key, an unknown block type is shown as such), so a renderer change can never
break the page; it can only show up in it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from bot.preview.markup import discord_inline, discord_markdown, plain, slack_mrkdwn
from bot.preview.model import Conversation, PostedMessage

# Slack's Block Kit Builder opens the payload in its URL fragment, encoded as encodeURIComponent does
# (docs.slack.dev links "View in Block Kit Builder" this way).
BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"
_URI_COMPONENT_SAFE = "-_.!~*'()"
# Discord's embed without a colour shows the theme's grey bar (discord.com client, dark theme).
DISCORD_DEFAULT_BAR = "#1e1f22"
DISCORD_BUTTON_STYLES = {1: "primary", 2: "secondary", 3: "success", 4: "danger", 5: "link"}


@dataclass(frozen=True, slots=True)
class Button:
    """A button as either platform draws it."""

    label: str
    style: str = "secondary"
    url: str | None = None
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class EmbedField:
    """One embed field."""

    name: Markup
    value: Markup
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Embed:
    """One Discord embed, with its colour bar as a CSS colour."""

    colour: str
    author: str | None = None
    title: Markup | None = None
    url: str | None = None
    description: Markup | None = None
    fields: Sequence[EmbedField] = ()
    footer: str | None = None
    timestamp: str | None = None


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One Discord create-message body, ready to draw."""

    place: str
    content: Markup | None
    embeds: Sequence[Embed]
    buttons: Sequence[Button]
    json: str


@dataclass(frozen=True, slots=True)
class Block:
    """One Slack block; which attributes are set depends on `kind`."""

    kind: str
    text: Markup | None = None
    fields: Sequence[Markup] = ()
    elements: Sequence[Markup] = ()
    buttons: Sequence[Button] = ()


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One Slack chat.postMessage (or response_url) body, ready to draw."""

    place: str
    fallback: str
    blocks: Sequence[Block]
    ephemeral: bool
    builder_url: str
    json: str


@dataclass(frozen=True, slots=True)
class Drawn:
    """A conversation's messages split by place, as the page lays them out."""

    platform: str
    channel: Sequence[Any]
    thread: Sequence[Any] = ()
    thread_name: str | None = None
    forum_tags: Sequence[str] = field(default_factory=tuple)
    forum: bool = False


def draw(conversation: Conversation) -> Drawn:
    """Return a conversation's messages drawn for its platform, split into channel and thread."""
    one = discord_message if conversation.platform == "discord" else slack_message
    drawn = [one(m) for m in conversation.messages]
    return Drawn(
        platform=conversation.platform,
        channel=[d for d in drawn if d.place != "thread"],
        thread=[d for d in drawn if d.place == "thread"],
        thread_name=conversation.thread_name,
        forum_tags=tuple(conversation.forum_tags),
        forum=any(m.place == "forum" for m in conversation.messages),
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _pretty(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, indent=2)


# -- Discord -----------------------------------------------------------------------------------------


def discord_message(message: PostedMessage) -> DiscordMessage:
    """Return a Discord create-message body as the client draws it."""
    body = message.body
    content = _str(body.get("content"))
    buttons = [
        Button(
            label=str(b.get("label") or ""),
            style=DISCORD_BUTTON_STYLES.get(b.get("style", 2), "secondary"),
            url=_str(b.get("url")),
            disabled=bool(b.get("disabled")),
        )
        for row in _dicts(body.get("components"))
        for b in _dicts(row.get("components"))
    ]
    return DiscordMessage(
        place=message.place,
        content=discord_markdown(content) if content else None,
        embeds=[_embed(e) for e in _dicts(body.get("embeds"))],
        buttons=buttons,
        json=_pretty(body),
    )


def _embed(data: Mapping[str, Any]) -> Embed:
    colour = data.get("color")
    bar = f"#{colour:06x}" if isinstance(colour, int) and 0 <= colour <= 0xFFFFFF else DISCORD_DEFAULT_BAR
    title = _str(data.get("title"))
    description = _str(data.get("description"))
    footer = data.get("footer")
    author = data.get("author")
    return Embed(
        colour=bar,
        author=_str(author.get("name")) if isinstance(author, Mapping) else None,
        title=discord_inline(title) if title else None,
        url=_str(data.get("url")) if title else None,
        description=discord_markdown(description) if description else None,
        fields=[
            EmbedField(
                name=discord_inline(str(f.get("name", ""))),
                value=discord_markdown(str(f.get("value", ""))),
                inline=bool(f.get("inline")),
            )
            for f in _dicts(data.get("fields"))
        ],
        footer=_str(footer.get("text")) if isinstance(footer, Mapping) else None,
        timestamp=_timestamp(data.get("timestamp")),
    )


def _timestamp(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%d/%m/%Y %H:%M")


# -- Slack -------------------------------------------------------------------------------------------


def block_kit_builder_url(blocks: Sequence[Mapping[str, Any]]) -> str:
    """Return the Block Kit Builder link that opens these blocks."""
    payload = json.dumps({"blocks": list(blocks)}, ensure_ascii=False, separators=(",", ":"))
    return BLOCK_KIT_BUILDER + quote(payload, safe=_URI_COMPONENT_SAFE)


def slack_message(message: PostedMessage) -> SlackMessage:
    """Return a Slack message body as the client draws it."""
    body = message.body
    blocks = _dicts(body.get("blocks"))
    return SlackMessage(
        place=message.place,
        fallback=str(body.get("text") or ""),
        blocks=[_block(b) for b in blocks],
        ephemeral=body.get("response_type") == "ephemeral",
        builder_url=block_kit_builder_url(blocks),
        json=_pretty(body),
    )


def _text(obj: object) -> Markup:
    if not isinstance(obj, Mapping):
        return Markup("")
    text = str(obj.get("text") or "")
    return slack_mrkdwn(text) if obj.get("type") == "mrkdwn" else plain(text)


def _slack_button(data: Mapping[str, Any]) -> Button:
    label = data.get("text")
    return Button(
        label=str(label.get("text", "")) if isinstance(label, Mapping) else "",
        style=str(data.get("style") or "default"),
        url=_str(data.get("url")),
    )


def _block(data: Mapping[str, Any]) -> Block:
    kind = str(data.get("type") or "")
    if kind in {"header", "section"}:
        accessory = data.get("accessory")
        buttons = (
            [_slack_button(accessory)]
            if isinstance(accessory, Mapping) and accessory.get("type") == "button"
            else []
        )
        return Block(
            kind,
            text=_text(data.get("text")) if data.get("text") else None,
            fields=[_text(f) for f in _dicts(data.get("fields"))],
            buttons=buttons,
        )
    if kind == "context":
        elements = [
            _text(e)
            if e.get("type") in {"mrkdwn", "plain_text"}
            else escape(f"[{e.get('alt_text', 'image')}]")
            for e in _dicts(data.get("elements"))
        ]
        return Block(kind, elements=elements)
    if kind == "actions":
        return Block(
            kind,
            buttons=[_slack_button(e) for e in _dicts(data.get("elements")) if e.get("type") == "button"],
        )
    if kind == "divider":
        return Block(kind)
    if kind == "image":
        return Block(kind, text=escape(f"[image: {data.get('alt_text', '')}]"))
    return Block("unknown", text=escape(f"(a {kind or 'typeless'} block, which this preview does not draw)"))
