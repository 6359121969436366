"""Post-only mode: incoming webhooks through slack_sdk's webhook client, against the fake."""

from __future__ import annotations

import pytest

from bot.adapters.slack.render import render_reply
from bot.adapters.slack.webhook import check_webhook_url, post_webhook
from bot.core.ports import Failed, RetryLater, Sent
from bot.core.reply import Item, Reply
from tests.fakes.slack import FakeSlack

BODIES = render_reply(Reply(title="Digest", items=[Item(title="Drone Technology", text="<!here> text")]))


async def test_posts_every_body_as_json(slack: FakeSlack) -> None:
    outcomes = await post_webhook(slack.webhook_url(), BODIES + BODIES)

    assert outcomes == [Sent("webhook"), Sent("webhook")]
    assert [p["blocks"] for p in slack.webhook_posts] == [BODIES[0]["blocks"]] * 2
    assert all(c.headers["Content-Type"].startswith("application/json") for c in slack.calls_to("webhook"))


async def test_a_short_429_is_waited_out_and_posted_once(slack: FakeSlack) -> None:
    slack.fail_next("webhook", "rate_limited", status=429, retry_after=0)

    assert await post_webhook(slack.webhook_url(), BODIES) == [Sent("webhook")]
    assert len(slack.webhook_posts) == 1


async def test_a_long_429_is_reported(slack: FakeSlack) -> None:
    slack.fail_next("webhook", "rate_limited", status=429, retry_after=120)

    [outcome] = await post_webhook(slack.webhook_url(), BODIES)

    assert outcome == RetryLater(120.0, "rate limited by Slack", rate_limited=True)


async def test_a_refusal_stops_the_rest_of_the_message(slack: FakeSlack) -> None:
    slack.fail_next("webhook", "channel_is_archived", status=410)

    outcomes = await post_webhook(slack.webhook_url(), BODIES * 3)

    assert outcomes[0] == Failed("channel_is_archived")
    assert all(isinstance(o, Failed) and o.reason.startswith("not sent") for o in outcomes[1:])
    assert slack.webhook_posts == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("hooks.slack.com/services/T/B/SECRETPART", "not a URL"),
        ("http://hooks.slack.com/services/T/B/SECRETPART", "use https://"),
        ("https://hooks.slack.com/", "no path"),
        ("ftp://hooks.slack.com/services/T/B/SECRETPART", "not a URL"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_secret(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        check_webhook_url(url)
    assert "SECRETPART" not in str(caught.value)


async def test_post_webhook_validates_before_sending() -> None:
    with pytest.raises(ValueError, match="use https://"):
        await post_webhook("http://hooks.slack.com/services/T/B/X", BODIES)
