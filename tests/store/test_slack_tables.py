"""newsbot's copy of slack_sdk's installation tables stays what slack_sdk's stores read and write."""

from __future__ import annotations

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, Table, Text

from bot.store.tables import SLACK_TOKEN_COLUMNS, slack_bots, slack_installations, slack_oauth_states


def _sdk(name: str) -> Table:
    metadata = MetaData()
    if name == "slack_oauth_states":
        return SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, name)
    if name == "slack_bots":
        return SQLAlchemyInstallationStore.build_bots_table(metadata, name)
    return SQLAlchemyInstallationStore.build_installations_table(metadata, name)


def _shape(table: Table) -> list[tuple[str, bool, bool, str]]:
    tokens = SLACK_TOKEN_COLUMNS.get(table.name, ())
    return [
        (c.name, c.nullable, c.primary_key, "token" if c.name in tokens else type(c.type).__name__)
        for c in table.columns
    ]


@pytest.mark.parametrize("ours", [slack_installations, slack_bots, slack_oauth_states], ids=lambda t: t.name)
def test_each_column_and_index_matches_slack_sdks_own_table(ours: Table) -> None:
    theirs = _sdk(ours.name)

    assert _shape(ours) == _shape(theirs)
    assert {(i.name, tuple(c.name for c in i.columns)) for i in ours.indexes} == {
        (i.name, tuple(c.name for c in i.columns)) for i in theirs.indexes
    }


def test_token_columns_are_wide_enough_for_ciphertext() -> None:
    for table in (slack_installations, slack_bots):
        for name in SLACK_TOKEN_COLUMNS[table.name]:
            assert isinstance(table.c[name].type, Text), f"{table.name}.{name}"
