"""SlackSender through the real slack_sdk client against the fake: outcomes, metadata, rate limits."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from pydantic import SecretStr

from bot.adapters.slack.render import render_reply
from bot.adapters.slack.sender import SlackSender
from bot.core.ports import Failed, RetryLater, Sent, Unauthorized
from bot.core.reply import Item, Reply
from tests.adapters.slack.conftest import FakeClock, stalled_server
from tests.fakes.slack import (
    BOT_TOKEN,
    HEADER_TEXT_MAX,
    MESSAGE_BLOCKS_MAX,
    SECTION_TEXT_MAX,
    FakeSlack,
    RateLimits,
)

BODY = render_reply(
    Reply(title="Drones", items=[Item(title="Drone Technology", text="Certification <!channel>")])
)[0]


def sender(slack: FakeSlack, token: str = BOT_TOKEN) -> SlackSender:
    return SlackSender(SecretStr(token), api_base=slack.api_base)


async def test_posts_blocks_fallback_text_and_the_delivery_key(slack: FakeSlack) -> None:
    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="digest:C0NEWS:2026-11-24")

    assert isinstance(outcome, Sent)
    [posted] = slack.posted
    assert outcome.message_id == posted.ts
    assert posted.channel == "C0NEWS"
    assert posted.body["blocks"] == BODY["blocks"]
    assert posted.body["text"] == BODY["text"]
    assert posted.body["metadata"] == {
        "event_type": "newsbot_delivery",
        "event_payload": {"delivery": "digest:C0NEWS:2026-11-24"},
    }
    assert "link_names" not in posted.body
    [call] = slack.calls_to("chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_links_in_a_posted_digest_get_no_preview_cards(slack: FakeSlack) -> None:
    reply = Reply(
        title="Drones",
        items=[Item(title="Drone Technology", text="Certification", url="https://example.com/drones.png")],
    )
    [body] = render_reply(reply)
    assert isinstance(await sender(slack).send("C0NEWS", dict(body), key="k"), Sent)

    [posted] = slack.posted
    assert "https://example.com/drones.png" in json.dumps(posted.body["blocks"])
    assert posted.previews == []  # what a reader sees: the digest, not a wall of link previews
    [call] = slack.calls_to("chat.postMessage")
    assert call.params["unfurl_links"] is False
    assert call.params["unfurl_media"] is False


async def test_the_fake_unfurls_links_and_media_unless_told_not_to(slack: FakeSlack) -> None:
    text = "see https://example.com/a and https://example.com/b.png"
    out = sender(slack)
    for flags in ({}, {"unfurl_links": False}, {"unfurl_media": False}):
        assert isinstance(await out.send("C0NEWS", {"text": text, **flags}, key="k"), Sent)
    assert [p.previews for p in slack.posted] == [
        ["https://example.com/a", "https://example.com/b.png"],
        ["https://example.com/b.png"],
        ["https://example.com/a"],
    ]


async def test_a_channel_the_bot_was_not_invited_to_fails_with_not_in_channel(clock: FakeClock) -> None:
    async with FakeSlack(clock=clock, not_joined={"C0PRIVATE"}) as slack:
        outcome = await sender(slack).send("C0PRIVATE", dict(BODY), key="k")
        assert outcome == Failed("not_in_channel")
        assert slack.posted == []


@pytest.mark.parametrize(
    ("blocks", "where"),
    [
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * (MESSAGE_BLOCKS_MAX + 1),
            "/blocks]",
        ),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * (SECTION_TEXT_MAX + 1)}}],
            "/blocks/0/text/text",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "x" * (HEADER_TEXT_MAX + 1)}}],
            "/blocks/0/text/text",
        ),
    ],
)
async def test_blocks_over_slacks_limits_are_refused_with_slacks_reason(
    slack: FakeSlack, blocks: list[dict[str, object]], where: str
) -> None:
    outcome = await sender(slack).send("C0NEWS", {"text": "fallback", "blocks": blocks}, key="k")
    assert isinstance(outcome, Failed)
    assert outcome.reason.startswith("invalid_blocks")
    assert where in outcome.reason
    assert slack.posted == []


async def test_a_lost_connection_is_not_retried_behind_the_outboxs_back(slack: FakeSlack) -> None:
    # slack_sdk's default handlers would send the same chat.postMessage again: a possible double post.
    slack.drop_next("chat.postMessage")

    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")

    assert isinstance(outcome, RetryLater)
    assert outcome.after > 0  # the outbox waits before trying again, rather than hammering Slack
    assert outcome.reason.startswith("network: ")
    assert "Error" in outcome.reason  # names what went wrong
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_an_api_base_without_a_trailing_slash_still_posts(slack: FakeSlack) -> None:
    out = SlackSender(SecretStr(BOT_TOKEN), api_base=slack.api_base.rstrip("/"))
    assert isinstance(await out.send("C0NEWS", dict(BODY), key="k"), Sent)


@pytest.mark.parametrize(("status", "error"), [(429, "too_many_requests"), (200, "ratelimited")])
async def test_a_429_or_a_ratelimited_error_alone_is_a_rate_limit(
    slack: FakeSlack, status: int, error: str
) -> None:
    slack.fail_next("chat.postMessage", error, status=status, retry_after=0 if status == 429 else None)

    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")

    assert outcome == RetryLater(0.0 if status == 429 else 1.0, "rate limited by Slack", rate_limited=True)


async def test_a_refusal_quotes_at_most_three_of_slacks_reasons(slack: FakeSlack) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * (SECTION_TEXT_MAX + 1)}}

    outcome = await sender(slack).send("C0NEWS", {"text": "t", "blocks": [section] * 5}, key="k")

    said = "[ERROR] must be less than 3001 characters [json-pointer:/blocks/{}/text/text]"
    assert outcome == Failed(f"invalid_blocks ({', '.join(said.format(i) for i in range(3))})")


async def test_link_names_in_a_body_is_never_sent(slack: FakeSlack) -> None:
    await sender(slack).send("C0NEWS", {**BODY, "link_names": True}, key="k")

    assert "link_names" not in slack.calls_to("chat.postMessage")[0].params


async def test_a_429_is_reported_with_retry_after_and_the_retry_posts_once(slack: FakeSlack) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    out = sender(slack)

    first = await out.send("C0NEWS", dict(BODY), key="alert:1")

    assert first == RetryLater(7.0, "rate limited by Slack", rate_limited=True)
    assert slack.posted == []
    assert len(slack.calls_to("chat.postMessage")) == 1  # slack_sdk did not retry behind our back

    second = await out.send("C0NEWS", dict(BODY), key="alert:1")

    assert isinstance(second, Sent)
    assert [p.body["metadata"]["event_payload"]["delivery"] for p in slack.posted] == ["alert:1"]


async def test_posting_faster_than_slack_allows_is_retried_later_and_every_message_arrives_once(
    clock: FakeClock,
) -> None:
    limits = RateLimits(per_channel_interval=1.0, workspace_per_minute=3)
    async with FakeSlack(clock=clock, limits=limits, channels={"C1", "C2", "C3", "C4"}) as slack:
        out = sender(slack)
        assert isinstance(await out.send("C1", dict(BODY), key="a"), Sent)
        again = await out.send("C1", dict(BODY), key="b")
        assert again == RetryLater(1.0, "rate limited by Slack", rate_limited=True)
        assert isinstance(await out.send("C2", dict(BODY), key="c"), Sent)
        clock.advance(1.0)
        assert isinstance(await out.send("C1", dict(BODY), key="b"), Sent)
        capped = await out.send("C3", dict(BODY), key="d")
        assert isinstance(capped, RetryLater)
        assert capped.rate_limited
        assert capped.after == 59.0
        clock.advance(59.0)
        assert isinstance(await out.send("C3", dict(BODY), key="d"), Sent)
        assert [p.channel for p in slack.posted] == ["C1", "C2", "C1", "C3"]
        assert [p.body["metadata"]["event_payload"]["delivery"] for p in slack.posted] == ["a", "c", "b", "d"]
        assert all(p.body["text"] == BODY["text"] for p in slack.posted)


@pytest.mark.parametrize(
    "error",
    [
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
    ],
)
async def test_final_errors_fail_for_good(slack: FakeSlack, error: str) -> None:
    slack.fail_next("chat.postMessage", error)

    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")

    assert isinstance(outcome, Failed)
    assert outcome.reason.startswith(error)


async def test_an_unknown_channel_fails_and_a_wrong_token_is_unauthorized(slack: FakeSlack) -> None:
    assert await sender(slack).send("C0NOWHERE", dict(BODY), key="k") == Failed("channel_not_found")
    wrong = await sender(slack, "xoxb-wrong").send("C0NEWS", dict(BODY), key="k")
    assert isinstance(wrong, Unauthorized)
    assert "invalid_auth" in wrong.reason
    assert "xoxb-wrong" not in wrong.reason


@pytest.mark.parametrize("error", ["invalid_auth", "account_inactive", "token_revoked"])
async def test_a_refused_token_is_the_bots_problem_not_the_channels(slack: FakeSlack, error: str) -> None:
    slack.fail_next("chat.postMessage", error)
    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")
    assert isinstance(outcome, Unauthorized)
    assert error in outcome.reason


@pytest.mark.parametrize(
    ("status", "error"), [(500, "internal"), (503, "unavailable"), (200, "internal_error")]
)
async def test_server_trouble_is_retried_later(slack: FakeSlack, status: int, error: str) -> None:
    slack.fail_next("chat.postMessage", error, status=status)

    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")

    assert isinstance(outcome, RetryLater)
    assert not outcome.rate_limited
    assert outcome.after > 0
    assert outcome.reason == f"Slack error: {error if status == 200 else f'http {status}'}"


async def test_an_unreachable_slack_is_retried_later_not_raised() -> None:
    async with FakeSlack() as gone:
        base = gone.api_base
    outcome = await SlackSender(BOT_TOKEN, api_base=base).send("C0NEWS", dict(BODY), key="k")

    assert isinstance(outcome, RetryLater)
    assert outcome.reason.startswith("network")


async def test_a_slack_that_never_answers_is_given_up_on_after_the_send_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without its own timeout the client would wait 30 s (slack_sdk's default) or for ever, holding
    # the worker while every other channel's messages queue behind it.
    monkeypatch.setattr("bot.adapters.slack.sender.SEND_TIMEOUT", 0.2)
    async with stalled_server() as (base, held):
        out = SlackSender(BOT_TOKEN, api_base=f"{base}/api/")
        async with asyncio.timeout(5):
            outcome = await out.send("C0NEWS", dict(BODY), key="k")

    assert held, "chat.postMessage never left"
    assert isinstance(outcome, RetryLater)
    assert outcome.reason.startswith("network: ")


async def test_a_proxy_error_page_labelled_json_is_retried_later_not_raised(slack: FakeSlack) -> None:
    # slack_sdk raises with aiohttp's response here, which has no parsed body to read.
    slack.answer_next("chat.postMessage", 502, "<html>502 Bad Gateway</html>", "application/json")

    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")

    assert outcome == RetryLater(5.0, "Slack error: http 502")
    assert slack.posted == []


async def test_an_api_base_that_is_not_slack_fails_the_message_naming_the_error(slack: FakeSlack) -> None:
    # e.g. NEWSBOT_SLACK__API_BASE pointing at a web server that answers 200 "ok" in plain text
    slack.answer_next("chat.postMessage", 200, "ok", "text/plain")

    outcome = await sender(slack).send("C0NEWS", dict(BODY), key="k")

    assert isinstance(outcome, Failed)
    assert re.fullmatch(r"unexpected error: \w+Error", outcome.reason)


async def test_a_refused_post_is_logged_naming_its_channel(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The operator reads which channel to invite the bot to from this line.
    async with FakeSlack(clock=clock, not_joined={"C0PRIVATE"}) as slack:
        assert await sender(slack).send("C0PRIVATE", dict(BODY), key="k") == Failed("not_in_channel")

    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("C0PRIVATE" in line and "not_in_channel" in line for line in refused)
