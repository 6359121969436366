"""Slash commands, autocomplete and paging buttons: acknowledge or defer → parse → the command table → render → send."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import discord

from bot.adapters.discord.registration import PRIVATE_OPTION
from bot.adapters.discord.render import render_reply
from bot.core.commands import COMMANDS, CommandTable
from bot.core.invocation import Invocation, clean_args
from bot.core.reply import Reply

log = logging.getLogger(__name__)

# Discord wants the first response within 3 seconds; answering directly until 2 s leaves room for the
# request itself, after which the interaction is deferred (type 5) and answered by a follow-up.
DEFER_AFTER = 2.0
CUSTOM_ID_MAX = 100  # Discord: a component's custom_id is at most 100 characters
CHOICE_MAX = 100  # Discord: an autocomplete choice's name and value are at most 100 characters
CHOICES_MAX = 25
PAGE_PREFIX = "nb"
REMEMBERED_QUERIES = 2048  # long queries kept for paging buttons (their text does not fit a custom_id)
PRIVATE_BY_DEFAULT = frozenset({"help"})


class InteractionHandler:
    """Answer every interaction discord.py receives; none is left to time out."""

    def __init__(self, commands: CommandTable, *, defer_after: float = DEFER_AFTER) -> None:
        self.commands = commands
        self.defer_after = defer_after
        self._option_order = {spec.name: [o.name for o in spec.options] for spec in COMMANDS}
        self._autocompleted = {
            spec.name: {o.name for o in spec.options if o.autocomplete} for spec in COMMANDS
        }
        self.page_ids = PageIds()

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        """Dispatch one interaction by type; any failure still gets the user an answer."""
        try:
            if interaction.type is discord.InteractionType.application_command:
                await self._command(interaction)
            elif interaction.type is discord.InteractionType.autocomplete:
                await self._autocomplete(interaction)
            elif interaction.type is discord.InteractionType.component:
                await self._component(interaction)
            else:
                await self._send_notice(interaction, "newsbot does not handle this kind of interaction.")
        except Exception:
            log.exception("discord interaction %s failed", interaction.id)
            await self._send_notice(
                interaction, "Something went wrong; newsbot logged the error. Please try again."
            )

    # -- slash commands -------------------------------------------------------------------------------

    def invocation(self, interaction: discord.Interaction[Any], *, page: int = 1) -> Invocation:
        """Build the core's Invocation from a slash command's name, options, place and permissions."""
        data: Mapping[str, Any] = interaction.data or {}
        name = str(data.get("name", ""))
        values: dict[str, Any] = {}
        for opt in data.get("options") or []:
            if isinstance(opt, Mapping) and "value" in opt:
                values[str(opt.get("name"))] = opt["value"]
        private = values.pop(PRIVATE_OPTION, None)
        order = self._option_order.get(name, [])
        parts = [str(values[n]) for n in order if n in values]
        parts += [str(v) for n, v in values.items() if n not in order]
        return Invocation(
            platform="discord",
            name=name,
            args=clean_args(" ".join(parts)),
            workspace=str(interaction.guild_id) if interaction.guild_id else None,
            channel=str(interaction.channel_id) if interaction.channel_id else None,
            user=str(interaction.user.id) if interaction.user else None,
            is_admin=is_admin(interaction),
            page=page,
            private=private if isinstance(private, bool) else None,
        )

    async def _command(self, interaction: discord.Interaction[Any]) -> None:
        inv = self.invocation(interaction)
        task = asyncio.create_task(self.commands.run(inv))
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if task in done:
            await self._answer(interaction, task.result(), inv)
            return
        ephemeral = inv.private if inv.private is not None else inv.name in PRIVATE_BY_DEFAULT
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        reply = await task
        await self._follow_up(interaction, reply, inv, deferred_ephemeral=ephemeral)

    async def _answer(self, interaction: discord.Interaction[Any], reply: Reply, inv: Invocation) -> None:
        bodies = self._bodies(reply, inv)
        first, rest = bodies[0], bodies[1:]
        await interaction.response.send_message(ephemeral=reply.private, **_message_kwargs(first))
        for body in rest:
            await interaction.followup.send(ephemeral=reply.private, **_message_kwargs(body))

    async def _follow_up(
        self,
        interaction: discord.Interaction[Any],
        reply: Reply,
        inv: Invocation,
        *,
        deferred_ephemeral: bool,
    ) -> None:
        bodies = self._bodies(reply, inv)
        if reply.private and not deferred_ephemeral:
            # The "thinking…" placeholder is public; a private answer replaces it with an ephemeral message.
            await interaction.delete_original_response()
            for body in bodies:
                await interaction.followup.send(ephemeral=True, **_message_kwargs(body))
            return
        first, rest = bodies[0], bodies[1:]
        await interaction.edit_original_response(**_message_kwargs(first, edit=True))
        for body in rest:
            await interaction.followup.send(ephemeral=deferred_ephemeral, **_message_kwargs(body))

    # -- paging buttons -------------------------------------------------------------------------------

    def _bodies(self, reply: Reply, inv: Invocation) -> list[dict[str, Any]]:
        """Render the reply; a paged one gets Previous/Next buttons on its first message."""
        bodies = render_reply(reply)
        if reply.pages > 1 or reply.page > 1:
            bodies[0] = {**bodies[0], "components": [self._paging_row(inv, reply)]}
        return bodies

    def _paging_row(self, inv: Invocation, reply: Reply) -> dict[str, Any]:
        buttons = [
            {
                "type": 2,
                "style": 2,
                "label": "◀ Previous",
                "custom_id": self.page_ids.encode(inv.name, inv.args, reply.page - 1, "p"),
                "disabled": reply.page <= 1,
            },
            {
                "type": 2,
                "style": 2,
                "label": "Next ▶",
                "custom_id": self.page_ids.encode(inv.name, inv.args, reply.page + 1, "n"),
                "disabled": reply.page >= reply.pages,
            },
        ]
        return {"type": 1, "components": buttons}

    async def _component(self, interaction: discord.Interaction[Any]) -> None:
        data: Mapping[str, Any] = interaction.data or {}
        parsed = self.page_ids.decode(str(data.get("custom_id", "")))
        if parsed is None:
            await self._send_notice(interaction, "These buttons have expired; run the command again.")
            return
        command, args, page = parsed
        inv = Invocation(
            platform="discord",
            name=command,
            args=args,
            workspace=str(interaction.guild_id) if interaction.guild_id else None,
            channel=str(interaction.channel_id) if interaction.channel_id else None,
            user=str(interaction.user.id) if interaction.user else None,
            is_admin=is_admin(interaction),
            page=page,
        )
        ephemeral = bool(interaction.message and interaction.message.flags.ephemeral)
        task = asyncio.create_task(self.commands.run(inv))
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if task not in done:
            await interaction.response.defer()  # type 6: update the same message later
            bodies = self._bodies(await task, inv)
            await interaction.edit_original_response(**_message_kwargs(bodies[0], edit=True))
        else:
            bodies = self._bodies(task.result(), inv)
            await interaction.response.edit_message(**_message_kwargs(bodies[0], edit=True))  # type 7
        for body in bodies[1:]:
            await interaction.followup.send(ephemeral=ephemeral, **_message_kwargs(body))

    # -- autocomplete ---------------------------------------------------------------------------------

    async def _autocomplete(self, interaction: discord.Interaction[Any]) -> None:
        data: Mapping[str, Any] = interaction.data or {}
        name = str(data.get("name", ""))
        focused = next(
            (o for o in data.get("options") or [] if isinstance(o, Mapping) and o.get("focused")),
            None,
        )
        choices: list[discord.app_commands.Choice[str]] = []
        if focused is not None and focused.get("name") in self._autocompleted.get(name, set()):
            try:
                found = await self.commands.complete_topics(str(focused.get("value", "")), limit=CHOICES_MAX)
            except Exception:
                log.exception("topic completion failed")
                found = []
            choices = [
                discord.app_commands.Choice(name=label[:CHOICE_MAX], value=topic_id[:CHOICE_MAX])
                for label, topic_id in found[:CHOICES_MAX]
            ]
        await interaction.response.autocomplete(choices)

    # -- last resort ----------------------------------------------------------------------------------

    async def _send_notice(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Tell the user something went wrong, in whatever way the interaction still allows."""
        reply = Reply(title="newsbot", text=text, tone="error", private=True)
        kwargs = _message_kwargs(render_reply(reply)[0])
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
            elif interaction.response.is_done():
                await interaction.followup.send(ephemeral=True, **kwargs)
            else:
                await interaction.response.send_message(ephemeral=True, **kwargs)
        except discord.HTTPException:
            log.warning(
                "could not tell the user about a failed interaction %s", interaction.id, exc_info=True
            )


class PageIds:
    """Paging buttons' custom_ids: "nb:<n|p>:<command>:<page>:=<args>", or ":#<hash>" for args too long to fit.

    Long queries are remembered in memory (the most recent few thousand); a button whose query was
    forgotten, e.g. after a restart, is answered with "run the command again".
    """

    def __init__(self, remember: int = REMEMBERED_QUERIES) -> None:
        self.remember = remember
        self._long: OrderedDict[str, str] = OrderedDict()

    def encode(self, command: str, args: str, page: int, which: str) -> str:
        """Return the custom_id for a button that shows `page` of `command args`."""
        head = f"{PAGE_PREFIX}:{which}:{command}:{max(page, 0)}:"
        if len(head) + 1 + len(args) <= CUSTOM_ID_MAX:
            return head + "=" + args
        ref = hashlib.sha256(args.encode("utf-8")).hexdigest()[:16]
        self._long[ref] = args
        self._long.move_to_end(ref)
        while len(self._long) > self.remember:
            self._long.popitem(last=False)
        return head + "#" + ref

    def decode(self, custom_id: str) -> tuple[str, str, int] | None:
        """Return (command, args, page); None when it is not a paging id or its query was forgotten."""
        bits = custom_id.split(":", 4)
        if len(bits) != 5 or bits[0] != PAGE_PREFIX or not bits[3].isdigit() or not bits[4]:
            return None
        command, page, tail = bits[2], int(bits[3]), bits[4]
        if tail[0] == "=":
            return command, tail[1:], max(page, 1)
        if tail[0] == "#" and tail[1:] in self._long:
            return command, self._long[tail[1:]], max(page, 1)
        return None


def is_admin(interaction: discord.Interaction[Any]) -> bool:
    """Return whether the member may change channel settings: Manage Server (or Administrator) in a guild."""
    if interaction.guild_id is None:
        return False
    perms = interaction.permissions
    return bool(perms.manage_guild or perms.administrator)


def _message_kwargs(body: Mapping[str, Any], *, edit: bool = False) -> dict[str, Any]:
    """Turn a rendered create-message body into discord.py keyword arguments (embeds, view, mentions)."""
    kwargs: dict[str, Any] = {
        "embeds": [discord.Embed.from_dict(e) for e in body.get("embeds") or []],
        "allowed_mentions": discord.AllowedMentions.none(),
    }
    if body.get("content"):
        kwargs["content"] = body["content"]
    elif edit:
        kwargs["content"] = None
    rows = body.get("components") or []
    if rows:
        kwargs["view"] = _view(rows)
    elif edit:
        kwargs["view"] = None  # an edit without buttons removes the old ones
    return kwargs


def _view(rows: list[dict[str, Any]]) -> discord.ui.View:
    """Build a stateless view: buttons are answered by custom_id in `handle`, so discord.py need not track it."""
    view = discord.ui.View(timeout=None)
    for row_index, row in enumerate(rows):
        for button in row.get("components", []):
            view.add_item(
                discord.ui.Button(
                    style=discord.ButtonStyle(button.get("style", 2)),
                    label=button.get("label"),
                    custom_id=button.get("custom_id"),
                    disabled=bool(button.get("disabled")),
                    row=row_index,
                )
            )
    # A stopped view is still serialised but not stored by discord.py's view store, which would otherwise
    # keep one object per paged message and race this handler for the button presses.
    view.stop()
    return view
