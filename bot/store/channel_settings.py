"""Per-channel layout and threads settings on SQLAlchemy, beside the schedules in store/channels.py.

Kept apart from SqlChannelStore because the tick never reads them: only the composer (what a delivery
says), the `/settings` command and the status page do. A channel that never changed them has no row
and gets ChannelLayout's defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.layout import LAYOUTS, ChannelLayout, Layout
from bot.core.ports import ChannelKey
from bot.store.engine import READ, WRITE, translated_errors
from bot.store.tables import channel_settings, is_channel


def _layout(row: Row[Any] | None) -> ChannelLayout:
    if row is None:
        return ChannelLayout()
    # A value some later version wrote and this one does not know reads as the default.
    layout: Layout = row.layout if row.layout in LAYOUTS else ChannelLayout().layout
    return ChannelLayout(layout=layout, threads=bool(row.threads))


class SqlChannelSettings:
    """The LayoutStore port on SQLAlchemy, plus every channel's settings for the status page."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._writer = engine.execution_options(**WRITE)
        self._reader = engine.execution_options(**READ)
        self._url = engine.url.render_as_string(hide_password=True)

    async def get_layout(self, key: ChannelKey) -> ChannelLayout:
        """Return the channel's settings (the defaults when it never changed them)."""
        stmt = select(channel_settings).where(is_channel(channel_settings, key))
        async with translated_errors(self._url), self._reader.connect() as conn:
            return _layout((await conn.execute(stmt)).first())

    async def set_layout(
        self,
        key: ChannelKey,
        *,
        layout: Layout | None = None,
        threads: bool | None = None,
        user: str | None,
        now: datetime,
    ) -> ChannelLayout:
        """Change one or both settings (the other keeps its value) and return them as stored."""
        async with translated_errors(self._url), self._writer.begin() as conn:
            found = (
                await conn.execute(select(channel_settings).where(is_channel(channel_settings, key)))
            ).first()
            current = _layout(found)
            chosen = ChannelLayout(
                layout=current.layout if layout is None else layout,
                threads=current.threads if threads is None else threads,
            )
            values = {
                "layout": chosen.layout,
                "threads": chosen.threads,
                "updated_by": user,
                "updated_at": now,
            }
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(channel_settings).values(
                platform=key.platform, workspace=key.workspace, channel=key.channel, **values
            )
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=["platform", "workspace", "channel"], set_=values)
            )
        return chosen

    async def all_layouts(self) -> dict[ChannelKey, ChannelLayout]:
        """Return the settings of every channel that changed them."""
        async with translated_errors(self._url), self._reader.connect() as conn:
            rows = await conn.execute(select(channel_settings))
            return {ChannelKey(r.platform, r.workspace, r.channel): _layout(r) for r in rows}
