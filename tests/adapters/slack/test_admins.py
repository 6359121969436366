"""The Slack admin rule: listed users, workspace admins and owners; users.info only when needed, cached."""

from __future__ import annotations

import pytest

from bot.adapters.slack.admins import AdminCheck
from bot.adapters.slack.sender import SEND_TIMEOUT, make_client
from tests.adapters.slack.conftest import FakeClock
from tests.fakes.slack import BOT_TOKEN, FakeSlack


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"is_admin": True}, True),
        ({"is_owner": True}, True),
        ({"is_primary_owner": True}, True),
        ({"is_admin": False, "is_owner": False}, False),
    ],
)
async def test_workspace_admins_and_owners_are_admins(
    slack: FakeSlack, flags: dict[str, bool], expected: bool
) -> None:
    slack.users["U1"] = flags
    check = AdminCheck(make_client(BOT_TOKEN, slack.api_base, timeout=SEND_TIMEOUT), [])

    assert await check.is_admin("U1", "T0FAKE") is expected


async def test_listed_users_need_no_lookup(slack: FakeSlack) -> None:
    check = AdminCheck(make_client(BOT_TOKEN, slack.api_base, timeout=SEND_TIMEOUT), ["U0LISTED"])

    assert await check.is_admin("U0LISTED")
    assert slack.calls_to("users.info") == []


async def test_lookups_are_cached_briefly(slack: FakeSlack, clock: FakeClock) -> None:
    slack.users["U1"] = {"is_admin": True}
    check = AdminCheck(make_client(BOT_TOKEN, slack.api_base, timeout=SEND_TIMEOUT), [], ttl=60, clock=clock)

    assert await check.is_admin("U1")
    slack.users["U1"] = {"is_admin": False}
    assert await check.is_admin("U1")
    clock.advance(61)
    assert not await check.is_admin("U1")
    assert len(slack.calls_to("users.info")) == 2


async def test_a_failed_lookup_means_not_an_admin(slack: FakeSlack) -> None:
    check = AdminCheck(make_client(BOT_TOKEN, slack.api_base, timeout=SEND_TIMEOUT), [])

    assert not await check.is_admin("U0UNKNOWN")
    slack.fail_next("users.info", "missing_scope")
    slack.users["U1"] = {"is_admin": True}
    assert not await check.is_admin("U1")
