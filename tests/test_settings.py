"""Settings: file, then environment; secrets masked; mistakes named by key and variable."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.runner import CannotListen, check_listeners
from bot.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("NEWSBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no config/newsbot.toml or .env here unless a test writes one


def test_defaults_without_any_file() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///var/newsbot.db"
    assert settings.platforms() == []


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "n.toml"
    config.write_text('database_url = "sqlite:///from-file.db"\n[discord]\nguild_ids = [1]\n')
    monkeypatch.setenv("NEWSBOT_DISCORD__GUILD_IDS", "5, 6")
    monkeypatch.setenv("NEWSBOT_SLACK__ADMINS", "U1,U2")
    settings = load_settings(config)
    assert settings.database_url == "sqlite:///from-file.db"
    assert settings.discord.guild_ids == [5, 6]
    assert settings.slack.admins == ["U1", "U2"]


def test_config_env_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "other.toml"
    config.write_text("[digest]\nmax_stories = 3\n")
    monkeypatch.setenv("NEWSBOT_CONFIG", str(config))
    assert load_settings().digest.max_stories == 3


def test_secrets_are_masked_and_platforms_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_DISCORD__TOKEN", "discord-secret")
    monkeypatch.setenv("NEWSBOT_SLACK__BOT_TOKEN", "xoxb-secret")
    settings = load_settings()
    assert settings.platforms() == ["discord"]  # Slack also needs a signing secret or an app token
    monkeypatch.setenv("NEWSBOT_SLACK__APP_TOKEN", "xapp-secret")
    settings = load_settings()
    assert settings.platforms() == ["discord", "slack"]
    assert settings.slack.socket_mode
    dumped = str(settings.masked()) + repr(settings)
    assert "discord-secret" not in dumped
    assert "xoxb-secret" not in dumped


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[slack]\nport = 'x'\n", "slack.port (NEWSBOT_SLACK__PORT)"),
        ("[discord]\ntokn = 'x'\n", "discord.tokn (NEWSBOT_DISCORD__TOKN): Extra inputs are not permitted"),
        ("[discord\n", "invalid TOML"),
    ],
)
def test_mistakes_in_the_file_are_named(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError, match=r"bad\.toml") as caught:
        load_settings(config)
    assert message in str(caught.value)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "missing.toml")


def test_dotenv_in_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NEWSBOT_DISCORD__TOKEN=from-dotenv\nNEWSBOT_DISCORD__GUILD_IDS=\n")
    settings = load_settings()
    assert settings.platforms() == ["discord"]
    assert settings.discord.guild_ids == []


def test_the_shipped_config_file_loads_and_matches_the_defaults() -> None:
    shipped = Path(__file__).resolve().parents[1] / "config" / "newsbot.toml"
    settings = load_settings(shipped)
    defaults = Settings()
    for section in ("digest", "discord", "slack", "api", "delivery", "feeds"):
        assert getattr(settings, section) == getattr(defaults, section), section


@pytest.mark.parametrize(
    ("variable", "value", "advice"),
    [
        ("NEWSBOT_DIGEST__TIMEZONE", "Mars/Olympus_Mons", "Europe/Berlin"),
        ("NEWSBOT_DELIVERY__LEASE_SECONDS", "1e308", "less than or equal to 86400"),
        ("NEWSBOT_DELIVERY__GRACE_HOURS", "inf", "finite number"),
        ("NEWSBOT_API__HOST", "256.1.1.1", "127.0.0.1"),
        ("NEWSBOT_SLACK__HOST", "not a host!", "localhost"),
        ("NEWSBOT_DELIVERY__WATCH_FOLDER", "/proc/1", "a folder it may create and write to"),
        ("NEWSBOT_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING'"),
        ("NEWSBOT_DISCORD__THREAD_ARCHIVE_MINUTES", "120", "60, 1440, 4320 or 10080"),
    ],
)
def test_settings_that_would_crash_run_are_refused_at_load_naming_the_variable_and_what_to_write(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, advice: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("environment: ")
    assert f"({variable})" in message
    assert advice in message
    assert "Value error" not in message


def test_good_hosts_zones_levels_and_creatable_folders_are_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSBOT_API__HOST", "::1")
    monkeypatch.setenv("NEWSBOT_SLACK__HOST", "bot-host.internal")
    monkeypatch.setenv("NEWSBOT_DIGEST__TIMEZONE", "America/New_York")
    monkeypatch.setenv("NEWSBOT_LOG_LEVEL", "debug")
    monkeypatch.setenv("NEWSBOT_DELIVERY__WATCH_FOLDER", str(tmp_path / "not" / "yet"))
    settings = load_settings()
    assert settings.log_level == "DEBUG"
    assert settings.delivery.watch_folder == tmp_path / "not" / "yet"
    assert not (tmp_path / "not").exists()  # checked, not created


def test_a_watch_folder_that_is_a_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    monkeypatch.setenv("NEWSBOT_DELIVERY__WATCH_FOLDER", str(tmp_path / "plain" / "inbox"))
    with pytest.raises(SettingsError, match="is not a folder"):
        load_settings()


def test_a_bad_value_in_dotenv_is_blamed_on_dotenv_and_the_real_variable(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsbot.toml").write_text("[digest]\ntitle = 'Briefing'\n")
    (tmp_path / ".env").write_text("NEWSBOT_DISCORD__GUILD_IDS=123,abc\n")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(".env: discord.guild_ids[1] (NEWSBOT_DISCORD__GUILD_IDS):")
    assert "newsbot.toml" not in message
    assert "GUILD_IDS__" not in message


def test_the_slack_listener_and_the_api_on_one_port_are_refused_before_run_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    for name, value in {
        "NEWSBOT_SLACK__BOT_TOKEN": "xoxb-1",
        "NEWSBOT_SLACK__SIGNING_SECRET": "s",
        "NEWSBOT_SLACK__HOST": "127.0.0.1",
        "NEWSBOT_SLACK__PORT": port,
        "NEWSBOT_API__PORT": port,
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CannotListen, match=f"127.0.0.1:{port} for the ingest API"):
        check_listeners(load_settings())


@pytest.mark.parametrize(("value", "expected"), [("4", 4), ("auto", "auto"), ("AUTO", "auto"), ("", 1)])
def test_the_shard_count_is_a_number_or_auto(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int | str
) -> None:
    monkeypatch.setenv("NEWSBOT_DISCORD__SHARD_COUNT", value)
    assert load_settings().discord.shard_count == expected


@pytest.mark.parametrize("value", ["0", "many", "-2"])
def test_a_bad_shard_count_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("NEWSBOT_DISCORD__SHARD_COUNT", value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "NEWSBOT_DISCORD__SHARD_COUNT" in str(refused.value)
    assert "'auto'" in str(refused.value)


OAUTH_KEY = "bm90IGEgc2VjcmV0LCBqdXN0IDMyIGJ5dGVzIGxvbmc="  # 32 bytes in URL-safe base64


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {},
            "slack.token_key (NEWSBOT_SLACK__TOKEN_KEY): newsbot keeps each workspace's tokens "
            "encrypted and needs a key for it: generate one with `newsbot slack token-key`",
        ),
        (
            {"NEWSBOT_SLACK__TOKEN_KEY": "not-a-key"},
            "NEWSBOT_SLACK__TOKEN_KEY): key 1 is not a Fernet key (32 bytes in URL-safe base64, 44 characters)",
        ),
        (
            {"NEWSBOT_SLACK__TOKEN_KEY": f"{OAUTH_KEY},{OAUTH_KEY[:-3]}"},
            "key 2 is not a Fernet key",
        ),
        (
            {"NEWSBOT_SLACK__TOKEN_KEY": OAUTH_KEY, "NEWSBOT_SLACK__BOT_TOKEN": "xoxb-1"},
            "(NEWSBOT_SLACK__CLIENT_ID): set either NEWSBOT_SLACK__BOT_TOKEN (one workspace) or",
        ),
        (
            {"NEWSBOT_SLACK__TOKEN_KEY": OAUTH_KEY, "NEWSBOT_SLACK__CLIENT_SECRET": ""},
            "NEWSBOT_SLACK__CLIENT_ID and NEWSBOT_SLACK__CLIENT_SECRET go together",
        ),
        (
            {"NEWSBOT_SLACK__TOKEN_KEY": OAUTH_KEY, "NEWSBOT_SLACK__SIGNING_SECRET": ""},
            "the OAuth install flow also needs NEWSBOT_SLACK__SIGNING_SECRET",
        ),
    ],
)
def test_slack_oauth_without_a_usable_token_key_or_with_a_bot_token_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("NEWSBOT_SLACK__CLIENT_ID", "1111.2222")
    monkeypatch.setenv("NEWSBOT_SLACK__CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("NEWSBOT_SLACK__SIGNING_SECRET", "signing-secret")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert message in str(caught.value)
    assert "not-a-key" not in str(caught.value)


def test_slack_oauth_with_a_key_is_a_configured_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_SLACK__CLIENT_ID", "1111.2222")
    monkeypatch.setenv("NEWSBOT_SLACK__CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("NEWSBOT_SLACK__SIGNING_SECRET", "signing-secret")
    monkeypatch.setenv("NEWSBOT_SLACK__TOKEN_KEY", OAUTH_KEY)

    settings = load_settings()

    assert settings.platforms() == ["slack"]
    assert settings.slack.oauth
    assert OAUTH_KEY not in str(settings.masked())
