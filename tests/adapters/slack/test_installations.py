"""Stored Slack tokens: encrypted with the configured key, readable after a key change, refused clearly otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.adapters.slack.installations import EncryptedInstallationStore, TokenCipher, build_workspace_tokens
from bot.adapters.slack.sender import SlackSender, make_client
from bot.core.ports import RetryLater
from bot.store.engine import create_engine
from bot.store.migrate import upgrade_database
from tests.fakes.slack import FakeSlack

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
CIPHER = TokenCipher(OLD)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


def installation(token: str) -> Installation:
    return Installation(
        app_id="A0NEWSBOT", team_id="T0AAA", user_id="U0INSTALLER", bot_token=token, bot_id="B0"
    )


@given(st.text())
def test_any_text_comes_back_as_it_went_in(token: str) -> None:
    assert CIPHER.decrypt(CIPHER.encrypt(token)) == token


@given(st.from_regex(r"xox[abep](\.xox[bp])?-[0-9A-Za-z-]{10,120}", fullmatch=True))
def test_a_slack_token_is_never_stored_as_itself(token: str) -> None:
    assert token not in CIPHER.encrypt(token)


async def test_a_token_written_with_the_old_key_is_read_after_a_new_key_is_put_first(
    engine: AsyncEngine,
) -> None:
    await EncryptedInstallationStore("1.2", engine, TokenCipher(OLD)).async_save(installation("xoxb-old-key"))

    rotated = EncryptedInstallationStore("1.2", engine, TokenCipher(f"{NEW},{OLD}"))
    bot = await rotated.async_find_bot(enterprise_id=None, team_id="T0AAA")

    assert bot is not None
    assert bot.bot_token == "xoxb-old-key"


async def test_a_token_no_configured_key_opens_is_refused_naming_the_setting(engine: AsyncEngine) -> None:
    await EncryptedInstallationStore("1.2", engine, TokenCipher(OLD)).async_save(installation("xoxb-old-key"))

    with pytest.raises(ValueError, match="NEWSBOT_SLACK__TOKEN_KEY") as caught:
        await EncryptedInstallationStore("1.2", engine, TokenCipher(NEW)).async_find_bot(
            enterprise_id=None, team_id="T0AAA"
        )
    assert "xoxb-old-key" not in str(caught.value)


async def test_a_post_whose_token_cannot_be_decrypted_waits_and_says_which_setting_to_fix(
    engine: AsyncEngine, slack: FakeSlack
) -> None:
    await EncryptedInstallationStore("1.2", engine, TokenCipher(OLD)).async_save(installation("xoxb-old-key"))
    tokens = build_workspace_tokens(
        engine,
        client_id="1.2",
        client_secret=SecretStr("secret"),
        token_key=SecretStr(NEW),  # the old key was dropped from the setting
        client=make_client(None, slack.api_base, timeout=15),
    )

    outcome = await SlackSender(None, api_base=slack.api_base, workspaces=tokens).send(
        "C0NEWS", {"text": "hello"}, key="1:0", workspace="T0AAA"
    )

    assert isinstance(outcome, RetryLater)
    assert "NEWSBOT_SLACK__TOKEN_KEY" in outcome.reason
    assert slack.calls_to("chat.postMessage") == []
