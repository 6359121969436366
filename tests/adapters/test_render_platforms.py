"""What every chat renderer promises, checked the same way on Discord and Slack bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bot.core.digest import Digest, digest_reply
from bot.core.reply import Item, Reply
from tests.adapters.discord_checks import DISCORD
from tests.adapters.payload_tools import (
    LONG_URL,
    digests,
    hostile_digest,
    hostile_replies,
    hostile_text,
    replies,
    run_checker,
)
from tests.adapters.render_cases import (
    CUT_MARK,
    CUT_NOTICE_MAX,
    MESSAGES_PER_REPLY_MAX,
    Platform,
    assert_all_words_kept,
    assert_digest_kept,
    drone_digest,
    drone_story,
    reply_titles,
    run_checker_runs,
    was_cut,
)
from tests.adapters.slack_checks import SLACK
from tests.fakes.slack import strings

on_each_platform = pytest.mark.parametrize("platform", [DISCORD, SLACK], ids=str)
SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]


@on_each_platform
def test_rendering_is_deterministic(platform: Platform) -> None:
    reply = hostile_replies()["mentions and markup"]
    assert platform.render_reply(reply) == platform.render_reply(reply)


@on_each_platform
def test_a_digest_renders_as_its_neutral_reply(platform: Platform) -> None:
    digest = drone_digest()
    assert platform.render_digest(digest) == platform.render_reply(digest_reply(digest))


# -- hostile input through the shared checkers -------------------------------------------------------


@on_each_platform
def test_hostile_replies_pass_the_shared_checker(platform: Platform, tmp_path: Path) -> None:
    bodies = []
    for name, reply in hostile_replies().items():
        rendered = platform.render_reply(reply)
        for body in rendered:
            assert platform.problems(body) == [], name
        assert_all_words_kept(platform, reply, rendered)
        bodies.extend(rendered)
    run_checker_runs(platform, bodies, tmp_path)


@on_each_platform
def test_hostile_text_cannot_mention_anyone(platform: Platform) -> None:
    reply = Reply(title=hostile_text(), text=hostile_text(), notice=hostile_text(), footer=hostile_text())
    assert all(platform.problems(b) == [] for b in platform.render_reply(reply))


# -- any summary, through core's digest ------------------------------------------------------------


@on_each_platform
@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_DATA)
@given(digest=digests())
def test_any_digest_fits_every_limit_and_keeps_every_section(platform: Platform, digest: Digest) -> None:
    bodies = platform.render_digest(digest)
    for body in bodies:
        assert platform.problems(body) == []
    assert_digest_kept(platform, digest, bodies)
    if not was_cut(platform, bodies) and any(
        e.url == LONG_URL for e in digest.entries
    ):  # too long to link: shown as text instead
        assert "Link:" + LONG_URL in "".join(platform.reading_order(bodies).replace("…", "").split())


@on_each_platform
def test_a_hostile_digest_keeps_every_section_and_passes_the_shared_checker(
    platform: Platform, tmp_path: Path
) -> None:
    digest = hostile_digest()
    bodies = platform.render_digest(digest)
    assert all(platform.problems(b) == [] for b in bodies)
    assert len(bodies) > 1
    assert_digest_kept(platform, digest, bodies)
    run_checker_runs(platform, bodies, tmp_path)


@on_each_platform
def test_generated_digests_pass_the_shared_checker(platform: Platform, tmp_path: Path) -> None:
    bodies: list[dict[str, Any]] = []

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=SLOW_DATA)
    @given(digest=digests())
    def collect(digest: Digest) -> None:
        bodies.extend(platform.render_digest(digest))

    collect()
    run_checker(platform.checker, bodies, tmp_path)


# -- any reply --------------------------------------------------------------------------------------


@on_each_platform
def test_any_reply_fits_every_limit_and_keeps_every_word(platform: Platform) -> None:
    # Built per platform so each keeps its own number of examples.
    @settings(max_examples=platform.reply_examples, deadline=None, suppress_health_check=SLOW_DATA)
    @given(reply=replies())
    def check(reply: Reply) -> None:
        bodies = platform.render_reply(reply)
        for body in bodies:
            assert platform.problems(body) == []
        assert_all_words_kept(platform, reply, bodies)
        platform.assert_continuations_marked(bodies, [*reply_titles(reply), platform.untitled])

    check()


# -- the message cap --------------------------------------------------------------------------------


@on_each_platform
def test_a_one_megabyte_story_is_cut_to_five_messages_ending_with_a_link_to_the_source(
    platform: Platform,
) -> None:
    words = " ".join(f"word{n}" for n in range(110_000))  # about 1 MB: 111 Slack messages before the cap
    story = Item(title="A very long story", url="https://example.com/story(1)", text=words)
    later = [Item(title=f"Story {n}", url=f"https://example.com/{n}", text="Short.") for n in range(2)]
    bodies = platform.render_reply(Reply(title="Alert", items=[story, *later], footer="newsbot"))
    assert len(bodies) == MESSAGES_PER_REPLY_MAX
    assert all(platform.problems(b) == [] for b in bodies)
    last = json.dumps(bodies[-1], ensure_ascii=False)
    assert CUT_MARK in last
    assert "https://example.com/story%281%29" in last or "https://example.com/story(1)" in last
    assert " 2 more not shown" in last  # not " -2 more"
    assert " ".join(f"word{n}" for n in range(500)) in " ".join(platform.reading_order(bodies).split())
    assert "newsbot" in platform.everything_shown(bodies[-1:])  # the footer still ends the reply


@on_each_platform
def test_a_reply_that_fits_is_not_cut(platform: Platform) -> None:
    bodies = platform.render_reply(Reply(title="Alert", items=[drone_story()]))
    assert not was_cut(platform, bodies)


@on_each_platform
def test_a_cut_reply_whose_source_link_is_very_long_still_fits_every_limit(platform: Platform) -> None:
    url = "https://example.com/" + "a" * 1_900
    story = Item(title="Long", url=url, text=" ".join(f"word{n}" for n in range(60_000)))
    bodies = platform.render_reply(Reply(title="Alert", items=[story], footer="f" * 2_000))
    assert len(bodies) == MESSAGES_PER_REPLY_MAX
    assert all(platform.problems(b) == [] for b in bodies)
    assert "the story's title links it" in platform.everything_shown(bodies[-1:])


@on_each_platform
def test_a_digest_names_each_storys_topics_by_their_labels(platform: Platform) -> None:
    digest = drone_digest()
    digest = digest.model_copy(
        update={"entries": [digest.entries[0].model_copy(update={"topics": ["drones"]})]}
    )
    shown = platform.everything_shown(platform.render_digest(digest, {"drones": "Unmanned aircraft"}))
    assert "Unmanned aircraft" in shown


@on_each_platform
def test_a_cut_reply_counts_every_story_it_did_not_show(platform: Platform) -> None:
    items = [Item(title=f"Story {n} ends", text="Short.") for n in range(300)]
    bodies = platform.render_reply(Reply(title="Alert", items=items))
    assert was_cut(platform, bodies)
    shown = platform.everything_shown(bodies)
    left = sum(f"Story {n} ends" not in shown for n in range(300))
    assert f" {left} more not shown." in shown


@on_each_platform
def test_a_source_link_that_just_fits_the_room_kept_for_the_cut_notice_is_still_linked(
    platform: Platform,
) -> None:
    def notice_for(url: str) -> str:
        story = Item(title="Drone", url=url, text="word " * 60_000)
        last = platform.render_reply(Reply(title="Alert", items=[story]))[-1]
        [notice] = [s for s in strings(last) if s.startswith(CUT_MARK)]
        return notice

    short = "https://example.com/a"
    room = CUT_NOTICE_MAX - (len(notice_for(short)) - len(short))
    fits = "https://example.com/" + "a" * (room - len("https://example.com/"))
    assert fits in notice_for(fits)
    assert len(notice_for(fits)) == CUT_NOTICE_MAX
    longer = notice_for(fits + "a")  # one more character: the story's title links it
    assert "https://" not in longer
    assert longer.endswith("The rest: the story's title links it.")
