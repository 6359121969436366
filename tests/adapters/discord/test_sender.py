"""DiscordSender against the loopback Discord: outcomes the delivery layer can act on, never exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.adapters.discord.render import render_reply
from bot.adapters.discord.sender import BucketState, DiscordSender, nonce_for
from bot.core.ports import Failed, RetryLater, Sent, Unauthorized
from bot.core.reply import Item, Reply
from tests.adapters.payload_tools import hostile_replies, run_checker
from tests.fakes.clock import ManualClock
from tests.fakes.discord import (
    EMBED_TITLE_MAX,
    EMBEDS_TOTAL_MAX,
    FIELD_VALUE_MAX,
    NONCE_MAX,
    TOKEN,
    FakeDiscord,
)

CHANNEL = "1300000000000000009"
BODY: dict[str, object] = {
    "embeds": [{"title": "Drone Technology", "description": "Certification protocols"}]
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(clock=clock) as server:
        yield server


@pytest.fixture
async def sender(fake: FakeDiscord) -> AsyncIterator[DiscordSender]:
    s = DiscordSender(fake.api_base, TOKEN)
    yield s
    await s.close()


def posts(fake: FakeDiscord, channel: str = CHANNEL) -> list[dict[str, object]]:
    return fake.channel_messages.get(channel, [])


async def test_a_post_is_sent_with_no_mentions_and_a_stable_nonce(
    fake: FakeDiscord, sender: DiscordSender, tmp_path: Path
) -> None:
    outcome = await sender.send(CHANNEL, BODY, key="digest:1")
    assert isinstance(outcome, Sent)
    assert outcome.message_id == posts(fake)[0]["id"]
    sent = fake.requests_to("POST", r"/channels/\d+/messages$")[0].json
    assert sent["allowed_mentions"] == {"parse": []}
    assert sent["enforce_nonce"] is True
    assert sent["nonce"] == nonce_for("digest:1")
    assert len(sent["nonce"]) <= NONCE_MAX
    run_checker("check-discord-payloads", [sent], tmp_path)


def test_nonces_are_short_stable_and_distinct() -> None:
    assert nonce_for("a") == nonce_for("a")
    assert nonce_for("a") != nonce_for("b")
    assert all(len(nonce_for(k * 50)) <= NONCE_MAX for k in ("x", "🙂", "outbox:123"))


async def test_a_retry_with_the_same_key_posts_once(fake: FakeDiscord, sender: DiscordSender) -> None:
    first = await sender.send(CHANNEL, BODY, key="outbox:7")
    again = await sender.send(CHANNEL, BODY, key="outbox:7")
    assert isinstance(first, Sent)
    assert again == first
    assert len(posts(fake)) == 1


async def test_a_429_is_reported_with_retry_after_and_the_retry_posts_once(
    fake: FakeDiscord, sender: DiscordSender, clock: ManualClock
) -> None:
    fake.fail(CHANNEL, 429, retry_after=1.23)
    limited = await sender.send(CHANNEL, BODY, key="outbox:1")
    assert isinstance(limited, RetryLater)
    assert limited.rate_limited is True
    assert limited.after == pytest.approx(1.23)
    assert posts(fake) == []

    clock.advance(limited.after)
    retried = await sender.send(CHANNEL, BODY, key="outbox:1")
    assert isinstance(retried, Sent)
    assert len(posts(fake)) == 1


async def test_a_cloudflare_429_without_via_holds_the_message_back_for_at_least_a_minute(
    fake: FakeDiscord, sender: DiscordSender, clock: ManualClock
) -> None:
    fake.fail(CHANNEL, 429, retry_after=2, cloudflare=True)
    banned = await sender.send(CHANNEL, BODY, key="outbox:cf")
    assert isinstance(banned, RetryLater)
    assert banned.rate_limited is True
    assert banned.after >= 60.0  # hammering on after 2 s would extend Cloudflare's ban
    assert "Cloudflare" in banned.reason
    assert posts(fake) == []
    clock.advance(banned.after)
    assert isinstance(await sender.send(CHANNEL, BODY, key="outbox:cf"), Sent)
    assert [m["embeds"][0]["title"] for m in posts(fake)] == ["Drone Technology"]


async def test_a_discord_429_with_via_waits_only_what_discord_asked(
    fake: FakeDiscord, sender: DiscordSender
) -> None:
    fake.fail(CHANNEL, 429, retry_after=2)
    limited = await sender.send(CHANNEL, BODY, key="outbox:via")
    assert isinstance(limited, RetryLater)
    assert limited.after == pytest.approx(2.0)
    assert "Cloudflare" not in limited.reason


@pytest.mark.parametrize(
    ("embed", "field"),
    [
        ({"title": "t" * (EMBED_TITLE_MAX + 1)}, "title"),
        ({"title": "t", "fields": [{"name": "n", "value": "v" * (FIELD_VALUE_MAX + 1)}]}, "value"),
        (
            {"title": "t", "description": "d" * 4000, "footer": {"text": "f" * (EMBEDS_TOTAL_MAX - 4000)}},
            "embeds",
        ),
    ],
)
async def test_a_body_over_a_discord_limit_is_refused_and_nothing_is_shown(
    fake: FakeDiscord, sender: DiscordSender, embed: dict[str, object], field: str
) -> None:
    outcome = await sender.send(CHANNEL, {"embeds": [embed]}, key="too-big")
    assert isinstance(outcome, Failed)
    assert "Invalid Form Body (code 50035)" in outcome.reason
    assert posts(fake) == []
    [(_, errors)] = fake.refused
    assert any(path.endswith(field) for path in errors)


async def test_the_fake_refuses_long_nonces_and_unknown_fields(fake: FakeDiscord) -> None:
    import aiohttp

    url = f"{fake.api_base}/channels/{CHANNEL}/messages"
    auth = {"Authorization": f"Bot {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        for body in ({**BODY, "nonce": "n" * (NONCE_MAX + 1)}, {**BODY, "link_names": True}):
            async with session.post(url, json=body, headers=auth) as response:
                assert response.status == 400
                assert (await response.json())["code"] == 50035
    assert posts(fake) == []


async def test_the_channel_bucket_limits_posts_and_its_headers_are_exposed(
    fake: FakeDiscord, sender: DiscordSender, clock: ManualClock
) -> None:
    for i in range(5):
        assert isinstance(await sender.send(CHANNEL, BODY, key=f"k{i}"), Sent)
    state = sender.bucket_state(CHANNEL)
    assert state is not None
    assert state.remaining == 0
    assert state.limit == 5
    assert state.bucket
    assert state.reset_after == pytest.approx(5.0, abs=0.01)

    sixth = await sender.send(CHANNEL, BODY, key="k5")
    assert isinstance(sixth, RetryLater)
    assert sixth.rate_limited
    assert 0 < sixth.after <= 5.0
    rejected = [r for r in fake.requests if r.method == "POST"][-1]
    assert rejected.json["nonce"] == nonce_for("k5")

    clock.advance(sixth.after)
    assert isinstance(await sender.send(CHANNEL, BODY, key="k5"), Sent)
    assert len(posts(fake)) == 6


async def test_the_fakes_429_body_and_headers_are_discords(fake: FakeDiscord, clock: ManualClock) -> None:
    # About the fake, not the sender: the sender tests above rely on this 429 being Discord's.
    import aiohttp

    fake.fail(CHANNEL, 429, retry_after=1.23)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.api_base}/channels/{CHANNEL}/messages",
            json=BODY,
            headers={"Authorization": f"Bot {TOKEN}"},
        ) as response,
    ):
        assert response.status == 429
        assert await response.json() == {
            "message": "You are being rate limited.",
            "retry_after": 1.23,
            "global": False,
        }
        for header in (
            "Retry-After",
            "Via",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "X-RateLimit-Reset-After",
            "X-RateLimit-Bucket",
            "X-RateLimit-Scope",
        ):
            assert header in response.headers
        assert response.headers["Content-Type"] == "application/json"


async def test_the_global_limit_is_reported_as_global(clock: ManualClock) -> None:
    async with FakeDiscord(clock=clock, global_limit=3, channel_limit=None) as fake:
        sender = DiscordSender(fake.api_base, TOKEN)
        try:
            for i in range(3):
                assert isinstance(await sender.send(str(i), BODY, key=f"g{i}"), Sent)
            limited = await sender.send("99", BODY, key="g3")
            assert isinstance(limited, RetryLater)
            assert limited.rate_limited
            assert "global" in limited.reason
            clock.advance(limited.after)
            assert isinstance(await sender.send("99", BODY, key="g3"), Sent)
        finally:
            await sender.close()


@pytest.mark.parametrize(
    ("status", "words"),
    [(403, "Missing Permissions"), (404, "Unknown Channel"), (400, "Invalid Form Body")],
)
async def test_refusals_are_permanent_with_discords_reason(
    fake: FakeDiscord, sender: DiscordSender, status: int, words: str
) -> None:
    fake.fail(CHANNEL, status)
    outcome = await sender.send(CHANNEL, BODY, key="x")
    assert isinstance(outcome, Failed)
    assert words in outcome.reason
    assert str(status) in outcome.reason


async def test_a_bad_token_is_unauthorized_not_the_channels_failure_and_hides_the_token(
    fake: FakeDiscord,
) -> None:
    sender = DiscordSender(fake.api_base, "wrong-token")
    try:
        outcome = await sender.send(CHANNEL, BODY, key="x")
    finally:
        await sender.close()
    assert isinstance(outcome, Unauthorized)
    assert "401" in outcome.reason
    assert "wrong-token" not in outcome.reason


async def test_server_errors_and_unreachable_discord_are_passing_failures(
    fake: FakeDiscord, sender: DiscordSender
) -> None:
    fake.fail(CHANNEL, 500, times=2)
    first = await sender.send(CHANNEL, BODY, key="x")
    assert isinstance(first, RetryLater)
    assert first.rate_limited is False
    assert first.after > 0
    assert isinstance(await sender.send(CHANNEL, BODY, key="x"), RetryLater)
    assert isinstance(await sender.send(CHANNEL, BODY, key="x"), Sent)

    await fake.close()
    gone = await sender.send(CHANNEL, BODY, key="y")
    assert isinstance(gone, RetryLater)
    assert gone.rate_limited is False


async def test_rendered_replies_pass_the_payload_checker_as_sent(
    fake: FakeDiscord, sender: DiscordSender, tmp_path: Path
) -> None:
    reply = Reply(title="Digest", items=[Item(title="@everyone <@123> story", text="text " * 300)])
    bodies = render_reply(reply) + render_reply(hostile_replies()["mentions and markup"])
    for i, body in enumerate(bodies):
        assert isinstance(await sender.send(f"{i}", body, key=f"r{i}"), Sent)
    sent = [r.json for r in fake.requests_to("POST", r"/channels/\d+/messages$")]
    run_checker("check-discord-payloads", sent, tmp_path)


async def _post_once(headers: dict[str, str]) -> tuple[object, BucketState | None]:
    """Post once to a loopback Discord that accepts with `headers`; return the outcome and the bucket seen."""

    async def accept(_request: web.Request) -> web.Response:
        return web.json_response({"id": "1234"}, headers=headers)

    app = web.Application()
    app.router.add_post("/api/v10/channels/{channel}/messages", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sender = DiscordSender(f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10", "token")
    try:
        return await sender.send(CHANNEL, {"content": "hello"}, key="k1"), sender.bucket_state(CHANNEL)
    finally:
        await sender.close()
        await runner.cleanup()


async def test_a_post_accepted_with_only_some_rate_limit_headers_is_still_sent() -> None:
    # A proxy in front of Discord may strip headers: a 200 with a bucket but no limit is still a posted message.
    outcome, _ = await _post_once({"X-RateLimit-Bucket": "b1", "X-RateLimit-Remaining": "4"})
    assert outcome == Sent(message_id="1234")


async def test_an_empty_bucket_without_a_bucket_id_still_holds_the_next_post_back() -> None:
    # The worker paces a channel from `remaining` and `reset_after`; the bucket id is not needed for that.
    outcome, state = await _post_once({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"})
    assert outcome == Sent(message_id="1234")
    assert state is not None
    assert (state.remaining, state.reset_after) == (0, 2.5)


async def test_closing_the_sender_leaves_a_session_the_caller_lent_it_open(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        sender = DiscordSender(fake.api_base, TOKEN, session=session)
        assert isinstance(await sender.send(CHANNEL, {"content": "hello"}, key="k1"), Sent)
        await sender.close()
        assert not session.closed  # the bot's other users of the session keep working


async def test_an_api_base_written_with_a_trailing_slash_still_posts(fake: FakeDiscord) -> None:
    sender = DiscordSender(fake.api_base + "/", TOKEN)
    try:
        assert isinstance(await sender.send(CHANNEL, {"content": "hello"}, key="k1"), Sent)
    finally:
        await sender.close()
    assert len(posts(fake)) == 1


async def test_a_token_given_as_a_secret_is_sent_as_the_token_not_its_mask(fake: FakeDiscord) -> None:
    sender = DiscordSender(fake.api_base, SecretStr(TOKEN))
    try:
        assert isinstance(await sender.send(CHANNEL, {"content": "hello"}, key="k1"), Sent)
    finally:
        await sender.close()
