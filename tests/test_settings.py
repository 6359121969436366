"""Settings: file, then environment; secrets masked; mistakes named by key and variable."""

from __future__ import annotations

from pathlib import Path

import pytest

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
