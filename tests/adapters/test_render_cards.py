"""Compact digests on Discord and Slack: the brief and its thread within every limit, words kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bot.core.cards import CUT_MARK
from bot.core.digest import Digest
from bot.core.layout import ChannelLayout, plan_alert, plan_digest
from tests.adapters.discord_checks import DISCORD
from tests.adapters.payload_tools import digests, hostile_digest
from tests.adapters.render_cases import (
    Platform,
    assert_cut_properly,
    assert_texts_kept,
    drone_digest,
    run_checker_runs,
    was_cut,
)
from tests.adapters.slack_checks import SLACK

on_each_platform = pytest.mark.parametrize("platform", [DISCORD, SLACK], ids=str)
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
DAY = datetime(2026, 12, 1, 8, tzinfo=UTC)


def _card_texts(plan_text: list[Any]) -> list[str]:
    return [t.removesuffix(CUT_MARK) for t in plan_text]


@on_each_platform
@settings(max_examples=15, deadline=None, suppress_health_check=SLOW)
@given(digest=digests())
def test_a_compact_digest_fits_every_limit_and_shows_its_card_sentences(
    platform: Platform, digest: Digest
) -> None:
    plan = plan_digest(digest, ChannelLayout(), day=DAY)
    rendered = plan.render(platform.render_reply)
    for body in rendered.bodies:
        assert platform.problems(body) == []
    [brief] = plan.channel
    shown = [i.text for i in brief.items] + [line.text for i in brief.items for line in i.lines]
    if not assert_cut_properly(platform, rendered.channel, [brief.text]):
        # Slack's reading order skips lines that open in bold, as a card's area lines do.
        orders = (platform.reading_order(rendered.channel), platform.everything_shown(rendered.channel))
        assert_texts_kept(platform, _card_texts(shown), *orders)


@on_each_platform
@settings(max_examples=10, deadline=None, suppress_health_check=SLOW)
@given(digest=digests())
def test_the_thread_reads_every_section_of_each_story_in_full(platform: Platform, digest: Digest) -> None:
    plan = plan_digest(digest, ChannelLayout(), day=DAY)
    for entry, reply in zip(digest.entries, plan.thread, strict=True):
        bodies = platform.render_reply(reply)
        assert all(platform.problems(b) == [] for b in bodies)
        originals = [entry.lede or "", *entry.agreements, *(s.text for s in entry.sections)]
        if not assert_cut_properly(platform, bodies, [entry.headline]):
            assert_texts_kept(platform, originals, platform.reading_order(bodies))


@on_each_platform
def test_a_hostile_compact_digest_and_alert_pass_the_shared_checker(
    platform: Platform, tmp_path: Path
) -> None:
    digest = hostile_digest()
    rendered = plan_digest(digest, ChannelLayout(), day=DAY).render(platform.render_reply)
    alert = plan_alert(digest, ChannelLayout()).render(platform.render_reply)
    bodies = [*rendered.bodies, *alert.bodies]
    assert all(platform.problems(b) == [] for b in bodies)
    # Forty discussion areas of 10,000 characters each: the full text is cut after five messages, the
    # brief of one line per area is not.
    full = plan_digest(digest, ChannelLayout("full"), day=DAY).render(platform.render_reply)
    assert was_cut(platform, full.channel)
    assert not was_cut(platform, rendered.channel)
    run_checker_runs(platform, bodies, tmp_path)


@on_each_platform
def test_a_one_story_digest_is_one_short_message_with_its_story_in_the_thread(platform: Platform) -> None:
    rendered = plan_digest(drone_digest(), ChannelLayout(), day=DAY).render(platform.render_reply)
    assert (len(rendered.channel), len(rendered.thread)) == (1, 1)
    assert rendered.thread_name == "Daily digest · 1 Dec"
    brief = platform.everything_shown(rendered.channel)
    assert "Drone Technology Certification of drone components." in " ".join(brief.replace("*", "").split())
    assert "Pax Silica Declaration" not in brief  # agreements are in the thread
    assert "Pax Silica Declaration" in platform.everything_shown(rendered.thread)
    assert "The full stories follow in the thread." in brief
