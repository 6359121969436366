"""The Slack app manifest newsbot needs, and the command-name rules Slack imposes."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.settings import SettingsError

EVENTS_PATH = "/slack/events"
# Newsbot in many workspaces (NEWSBOT_SLACK__CLIENT_ID): where Bolt serves the install flow.
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# Bot events an installed app must subscribe to for newsbot to learn it was removed from a workspace
# (https://docs.slack.dev/reference/events/app_uninstalled, .../tokens_revoked).
OAUTH_EVENTS = ("app_uninstalled", "tokens_revoked")
PLACEHOLDER_URL = "https://newsbot.example.com"
SCOPES = ("commands", "chat:write", "users:read")  # users:read: users.info for the workspace-admin check

# Slack's built-in slash commands: an app cannot register these names (Slack answers them itself).
# From Slack's help centre list of built-in commands, plus long-standing ones it still reserves.
RESERVED_COMMANDS = frozenset(
    {
        "/active",
        "/apps",
        "/archive",
        "/away",
        "/call",
        "/clear",
        "/collapse",
        "/dm",
        "/dnd",
        "/expand",
        "/feed",
        "/feedback",
        "/giphy",
        "/help",
        "/invite",
        "/invite_people",
        "/join",
        "/keys",
        "/kick",
        "/leave",
        "/me",
        "/msg",
        "/mute",
        "/open",
        "/prefs",
        "/remind",
        "/remove",
        "/rename",
        "/search",
        "/shortcuts",
        "/shrug",
        "/star",
        "/status",
        "/topic",
        "/unmute",
        "/who",
    }
)
# Slack's rule for command names: a slash, then lowercase letters, digits, "-" and "_", 32 characters at most.
COMMAND_MAX = 32
_COMMAND = re.compile(r"^/[a-z0-9_\-]{1,31}$")


class SlackSetupError(SettingsError):
    """The Slack settings cannot work (a reserved command name, a bad URL, a rejected token)."""


def check_command_name(name: str) -> str:
    """Return the configured command name, or raise SlackSetupError saying why Slack would refuse it."""
    if not _COMMAND.fullmatch(name):
        raise SlackSetupError(
            f"slack.command (NEWSBOT_SLACK__COMMAND) {name[:40]!r}: a Slack command is a slash followed by "
            f"lowercase letters, digits, '-' or '_', at most {COMMAND_MAX} characters in all, e.g. /news"
        )
    if name in RESERVED_COMMANDS:
        raise SlackSetupError(
            f"slack.command (NEWSBOT_SLACK__COMMAND) {name!r} is one of Slack's built-in commands, which "
            "apps cannot register; choose another name, e.g. /news"
        )
    return name


def check_public_url(url: str) -> str:
    """Return the public base URL without a trailing slash, or raise SlackSetupError."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise SlackSetupError(
            f"--url {url[:80]!r}: Slack sends requests only to https:// URLs, e.g. https://newsbot.example.com"
        )
    if parts.query or parts.fragment:
        raise SlackSetupError(f"--url {url[:80]!r}: give the base URL, without a query or fragment")
    if parts.hostname == "localhost" or _is_loopback_ip(parts.hostname):
        raise SlackSetupError(f"--url {url[:80]!r}: Slack cannot reach a loopback address")
    return url.strip().rstrip("/")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, not an address
        return False


def build_manifest(
    *,
    url: str | None = PLACEHOLDER_URL,
    socket_mode: bool = False,
    command: str = "/news",
    name: str = "newsbot",
    oauth: bool = False,
    token_rotation: bool = False,
) -> dict[str, Any]:
    """Return the app manifest: one slash command, interactivity for the buttons, and three bot scopes.

    With `oauth` (many workspaces) it adds the redirect URL of the install flow, the uninstall events
    and public distribution; `token_rotation` asks Slack for expiring tokens (newsbot refreshes them).
    """
    check_command_name(command)
    if oauth and socket_mode:
        raise SlackSetupError("the OAuth install flow needs HTTP mode: give --url, not --socket-mode")
    base = None if socket_mode else check_public_url(url or PLACEHOLDER_URL)
    events_url = None if base is None else base + EVENTS_PATH
    slash: dict[str, Any] = {
        "command": command,
        "description": "News digests and topic answers from the newsbot archive",
        "usage_hint": "topic drones | topics | digest 7d | subscribe drones | schedule daily 08:00 | settings"
        " | feeds | help",
        "should_escape": False,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    if events_url is not None:
        slash["url"] = events_url
        interactivity["request_url"] = events_url
    oauth_config: dict[str, Any] = {"scopes": {"bot": list(SCOPES)}}
    settings: dict[str, Any] = {
        "interactivity": interactivity,
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": token_rotation,
    }
    if oauth and base is not None:
        oauth_config["redirect_urls"] = [base + REDIRECT_PATH]
        settings["event_subscriptions"] = {"request_url": events_url, "bot_events": list(OAUTH_EVENTS)}
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Structured news and policy-dialogue summaries: digests, topic alerts and answers.",
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": False},
            "slash_commands": [slash],
        },
        "oauth_config": oauth_config,
        "settings": settings,
    }


def manifest_yaml(
    *,
    url: str | None = PLACEHOLDER_URL,
    socket_mode: bool = False,
    command: str = "/news",
    oauth: bool = False,
    token_rotation: bool = False,
) -> str:
    """Return the manifest as the YAML Slack's "Create an app → From a manifest" page accepts."""
    body = build_manifest(
        url=url, socket_mode=socket_mode, command=command, oauth=oauth, token_rotation=token_rotation
    )
    flags = " --socket-mode" if socket_mode else f" --url {check_public_url(url or PLACEHOLDER_URL)}"
    flags += " --oauth" if oauth else ""
    flags += " --token-rotation" if token_rotation else ""
    header = (
        f"# newsbot's Slack app manifest, generated by `newsbot slack manifest{flags}`.\n"
        "# Paste it at https://api.slack.com/apps → Create New App → From a manifest.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110)
