"""Per-channel layout settings on each backend: defaults without a row, one change keeps the other."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.layout import ChannelLayout
from bot.core.ports import ChannelKey
from bot.store.channel_settings import SqlChannelSettings

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)
KEY = ChannelKey("discord", "g1", "c1")


async def test_a_channel_that_never_changed_its_settings_has_the_defaults(engine: AsyncEngine) -> None:
    store = SqlChannelSettings(engine)
    assert await store.get_layout(KEY) == ChannelLayout("compact", threads=True)
    assert await store.all_layouts() == {}


async def test_changing_one_setting_keeps_the_other_and_other_channels_untouched(engine: AsyncEngine) -> None:
    store = SqlChannelSettings(engine)
    assert await store.set_layout(KEY, threads=False, user="u1", now=NOW) == ChannelLayout("compact", False)
    assert await store.set_layout(KEY, layout="full", user="u2", now=NOW) == ChannelLayout("full", False)
    assert await store.get_layout(KEY) == ChannelLayout("full", threads=False)
    other = ChannelKey("discord", "g1", "c2")
    assert await store.get_layout(other) == ChannelLayout()
    assert await store.all_layouts() == {KEY: ChannelLayout("full", threads=False)}
