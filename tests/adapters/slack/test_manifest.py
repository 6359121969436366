"""The app manifest: the shipped file, scopes, command names, HTTP and Socket Mode variants, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.adapters.slack.manifest import (
    RESERVED_COMMANDS,
    SlackSetupError,
    build_manifest,
    check_command_name,
    manifest_yaml,
)
from bot.cli.slack import slack_app

ROOT = Path(__file__).resolve().parents[3]
BRIEF_RESERVED = [
    "/topic",
    "/remind",
    "/invite",
    "/status",
    "/msg",
    "/dm",
    "/leave",
    "/join",
    "/shrug",
    "/feed",
    "/who",
    "/mute",
    "/search",
    "/away",
    "/active",
    "/apps",
    "/archive",
    "/collapse",
    "/expand",
    "/call",
    "/dnd",
    "/me",
    "/open",
    "/rename",
    "/shortcuts",
    "/prefs",
]


def test_the_shipped_manifest_is_the_generators_default() -> None:
    assert (ROOT / "config" / "slack-manifest.yaml").read_text(encoding="utf-8") == manifest_yaml()


def test_http_manifest_points_the_command_and_buttons_at_slack_events() -> None:
    doc = yaml.safe_load(manifest_yaml(url="https://bot.example.org/base/"))

    [command] = doc["features"]["slash_commands"]
    assert command["command"] == "/news"
    assert command["url"] == "https://bot.example.org/base/slack/events"
    assert doc["settings"]["interactivity"] == {
        "is_enabled": True,
        "request_url": "https://bot.example.org/base/slack/events",
    }
    assert doc["settings"]["socket_mode_enabled"] is False
    assert doc["oauth_config"]["scopes"] == {"bot": ["commands", "chat:write", "users:read"]}
    assert all(c["command"] not in RESERVED_COMMANDS for c in doc["features"]["slash_commands"])


def test_socket_mode_manifest_has_no_urls() -> None:
    text = manifest_yaml(socket_mode=True)
    doc = yaml.safe_load(text)

    assert doc["settings"]["socket_mode_enabled"] is True
    assert doc["settings"]["interactivity"] == {"is_enabled": True}
    assert "url" not in doc["features"]["slash_commands"][0]
    assert "http" not in text.split("\n", 2)[2].replace("https://api.slack.com/apps", "")


def test_every_builtin_command_is_reserved() -> None:
    assert set(BRIEF_RESERVED) <= RESERVED_COMMANDS


@pytest.mark.parametrize("name", ["/topic", "/remind", "/status", "/me"])
def test_a_reserved_command_name_is_refused_clearly(name: str) -> None:
    with pytest.raises(SlackSetupError, match="built-in commands"):
        check_command_name(name)
    with pytest.raises(SlackSetupError, match="NEWSBOT_SLACK__COMMAND"):
        build_manifest(command=name)


@pytest.mark.parametrize("name", ["news", "/News", "/" + "n" * 32, "/news today", "/"])
def test_a_malformed_command_name_is_refused(name: str) -> None:
    with pytest.raises(SlackSetupError, match="lowercase letters"):
        check_command_name(name)


@pytest.mark.parametrize(
    "url", ["http://bot.example.org", "bot.example.org", "https://127.0.0.1", "https://x.org/?a=1"]
)
def test_a_url_slack_cannot_use_is_refused(url: str) -> None:
    with pytest.raises(SlackSetupError, match="--url"):
        build_manifest(url=url)


def test_cli_prints_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_SLACK__COMMAND", "/headlines")
    runner = CliRunner()

    http = runner.invoke(slack_app, ["manifest", "--url", "https://bot.example.org"])
    socket = runner.invoke(slack_app, ["manifest", "--socket-mode"])
    both = runner.invoke(slack_app, ["manifest", "--url", "https://bot.example.org", "--socket-mode"])

    assert http.exit_code == 0, http.output
    assert yaml.safe_load(http.stdout)["features"]["slash_commands"][0]["command"] == "/headlines"
    assert socket.exit_code == 0
    assert yaml.safe_load(socket.stdout)["settings"]["socket_mode_enabled"] is True
    assert both.exit_code == 2


def test_cli_refuses_a_reserved_configured_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_SLACK__COMMAND", "/topic")

    result = CliRunner().invoke(slack_app, ["manifest", "--socket-mode"])

    assert result.exit_code == 2
    assert "built-in commands" in result.output
    assert "Traceback" not in result.output


def test_an_oauth_manifest_adds_the_redirect_url_and_the_uninstall_events() -> None:
    doc = yaml.safe_load(manifest_yaml(url="https://bot.example.org", oauth=True, token_rotation=True))

    assert doc["oauth_config"]["redirect_urls"] == ["https://bot.example.org/slack/oauth_redirect"]
    assert doc["settings"]["event_subscriptions"] == {
        "request_url": "https://bot.example.org/slack/events",
        "bot_events": ["app_uninstalled", "tokens_revoked"],
    }
    assert doc["settings"]["token_rotation_enabled"] is True
    plain = yaml.safe_load(manifest_yaml(url="https://bot.example.org"))
    assert "redirect_urls" not in plain["oauth_config"]
    assert "event_subscriptions" not in plain["settings"]


def test_an_oauth_manifest_for_socket_mode_is_refused() -> None:
    result = CliRunner().invoke(slack_app, ["manifest", "--socket-mode", "--oauth"])

    assert result.exit_code == 2
    assert "needs HTTP mode" in result.output


def test_token_key_prints_a_key_the_settings_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import Settings

    result = CliRunner().invoke(slack_app, ["token-key"])
    key = result.stdout.strip()

    assert result.exit_code == 0
    assert len(key) == 44
    slack = {"client_id": "1.2", "client_secret": "s", "signing_secret": "x", "token_key": key}
    assert Settings(slack=slack).slack.configured
