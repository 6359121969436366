"""Typed settings: config/newsbot.toml, then NEWSBOT_* environment variables, loaded once on purpose."""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("config/newsbot.toml")
CONFIG_ENV = "NEWSBOT_CONFIG"


class SettingsError(ValueError):
    """Settings could not be loaded; the message says which file or variable and why."""


def _split_list(value: Any) -> Any:
    # Environment variables carry lists as "a,b,c"; TOML carries real lists.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# Everything `newsbot run` would trip over is refused here, at load time, so `newsbot config check`
# fails on exactly what `run` would fail on; each message says what to write instead.

# One DNS label (RFC 1123): letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_HOSTNAME_MAX = 253  # RFC 1035, without the trailing dot


def _check_host(value: str) -> str:
    text = value.strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        labels = text.split(".")
        dotted_numbers = all(label.isdigit() for label in labels)
        if dotted_numbers or len(text) > _HOSTNAME_MAX or not all(_LABEL.match(lb) for lb in labels):
            raise ValueError(
                f"{value!r} is not an IP address or host name; write an address such as 127.0.0.1 "
                "(this machine only), 0.0.0.0 (every interface) or ::1, or a host name such as localhost"
            ) from None
    return text


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone; write an IANA name such as UTC, Europe/Berlin or America/New_York"
        ) from None
    return value


def _check_folder(value: Path | None) -> Path | None:
    # The watch folder is created and written (done/, failed/, claimed files) at every tick: prove now
    # that this is possible, by writing a scratch file, since root passes permission checks that the
    # kernel then refuses (/proc/1).
    if value is None:
        return None
    existing = value
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{value} is not a folder ({existing} is a file); name a folder newsbot may write to"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(
            f"newsbot cannot create a file in {existing} ({reason}); name a folder it may create and write to"
        ) from None
    return value


Host = Annotated[str, AfterValidator(_check_host)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class _Section(BaseModel):
    # No inf or nan: a float setting becomes a timedelta or a sleep, and neither takes them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DiscordSettings(_Section):
    """The Discord bot: token, where to register commands, and API overrides."""

    token: SecretStr | None = None
    guild_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str | None = None
    # Minutes without activity before a digest's thread or forum post leaves the channel list; Discord
    # takes only these four values (an hour, a day, three days, a week).
    thread_archive_minutes: Literal[60, 1440, 4320, 10080] = 1440
    # Gateway shards the bot runs ("auto": what GET /gateway/bot recommends). On PostgreSQL the
    # replicas share them out (bot/store/shards.py); on SQLite the one process runs them all.
    shard_count: int | Literal["auto"] = 1
    shard_poll_seconds: float = Field(default=2.0, gt=0, le=60)  # how often free shards are looked for

    _split_guilds = field_validator("guild_ids", mode="before")(_split_list)

    @field_validator("shard_count", mode="before")
    @classmethod
    def _shard_count(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return 1  # left empty (as in config/.env.example): the default
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise ValueError("must be a whole number of shards (1 or more) or 'auto'")

    @property
    def configured(self) -> bool:
        """Return whether a token is set."""
        return self.token is not None and bool(self.token.get_secret_value())


class SlackSettings(_Section):
    """The Slack app: tokens, the HTTP listener, the command name and admins."""

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None  # xapp-…: Socket Mode instead of a public URL
    port: int = Field(default=3000, ge=1, le=65535)
    # Loopback unless configured: put a TLS proxy in front and forward only /slack/events (README).
    host: Host = "127.0.0.1"
    command: str = "/news"
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_base: str = "https://slack.com/api/"
    # Many workspaces: Slack's OAuth install flow instead of one bot token (README "Slack in many
    # workspaces"). Installations live in the database, their tokens encrypted with token_key.
    client_id: str | None = None
    client_secret: SecretStr | None = Field(default=None, validate_default=True)
    # One or more Fernet keys, comma-separated: the first encrypts, every one decrypts (key rotation).
    token_key: SecretStr | None = Field(default=None, validate_default=True)

    _split_admins = field_validator("admins", mode="before")(_split_list)

    @field_validator("client_id")
    @classmethod
    def _oauth_alone(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is None:
            return None
        if _has(info.data.get("bot_token")):
            raise ValueError(
                "set either NEWSBOT_SLACK__BOT_TOKEN (one workspace) or NEWSBOT_SLACK__CLIENT_ID and "
                "__CLIENT_SECRET (newsbot installed in many workspaces through Slack's OAuth flow), not both"
            )
        if _has(info.data.get("app_token")):
            raise ValueError(
                "the OAuth install flow needs HTTP mode (Slack redirects browsers to /slack/oauth_redirect): "
                "unset NEWSBOT_SLACK__APP_TOKEN"
            )
        if not _has(info.data.get("signing_secret")):
            raise ValueError(
                "the OAuth install flow also needs NEWSBOT_SLACK__SIGNING_SECRET (Basic Information → "
                "App Credentials on the app's page)"
            )
        return value

    @field_validator("client_secret")
    @classmethod
    def _secret_with_id(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if bool(info.data.get("client_id")) != _has(value):
            raise ValueError(
                "NEWSBOT_SLACK__CLIENT_ID and NEWSBOT_SLACK__CLIENT_SECRET go together: set both (from the "
                "app's Basic Information page) or neither"
            )
        return value

    @field_validator("token_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if not info.data.get("client_id"):
            return value
        keys = [k.strip() for k in (value.get_secret_value() if value else "").split(",") if k.strip()]
        if not keys:
            raise ValueError(
                "newsbot keeps each workspace's tokens encrypted and needs a key for it: generate one with "
                "`newsbot slack token-key` and set it here"
            )
        for position, key in enumerate(keys, start=1):
            if not _is_fernet_key(key):
                raise ValueError(
                    f"key {position} is not a Fernet key (32 bytes in URL-safe base64, 44 characters); "
                    "generate one with `newsbot slack token-key`"
                )
        return value

    @property
    def oauth(self) -> bool:
        """Return whether newsbot runs Slack's install flow for many workspaces (client id and secret set)."""
        return bool(self.client_id) and _has(self.client_secret)

    @property
    def socket_mode(self) -> bool:
        """Return whether an app-level token asks for Socket Mode."""
        return _has(self.app_token)

    @property
    def configured(self) -> bool:
        """Return whether one workspace's bot token, or the OAuth app's credentials, can run the app."""
        if self.oauth:
            return _has(self.signing_secret) and _has(self.token_key)
        return _has(self.bot_token) and (_has(self.signing_secret) or _has(self.app_token))


class DigestSettings(_Section):
    """How digests read."""

    post_when_empty: bool = False
    max_stories: int = Field(default=10, ge=1, le=50)
    title: str = "News digest"
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"  # for /schedule without a zone


class ApiSettings(_Section):
    """The HTTP API for pushing summaries into a running bot."""

    token: SecretStr | None = None
    host: Host = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1_000)


class DeliverySettings(_Section):
    """How scheduled digests and topic alerts are posted (NEWSBOT_DELIVERY__*)."""

    enabled: bool = True  # `newsbot run` starts the tick, the sender and the HTTP API
    grace_hours: float = Field(default=6.0, ge=0, le=24 * 14)  # how old a missed slot may be and still post
    tick_seconds: float = Field(default=5.0, gt=0, le=300)  # how often due schedules are looked for
    poll_seconds: float = Field(default=1.0, gt=0, le=60)  # how often the outbox is looked at when idle
    # summaries dropped here are ingested, then moved aside
    watch_folder: Annotated[Path | None, AfterValidator(_check_folder)] = None
    alert_on_revision: bool = False  # a changed story alerts its followers again
    serve_http: bool = True  # the ingest API, /healthz and /metrics (see [api])
    lease_seconds: float = Field(
        default=120.0, ge=5, le=24 * 3600
    )  # a process that dies mid-send gives its rows up after this
    concurrency: int = Field(default=64, ge=1, le=1000)  # deliveries in flight per process
    max_attempts: int = Field(default=8, ge=1, le=100)  # 5xx/timeouts before a delivery is dead
    backoff_base_seconds: float = Field(default=2.0, gt=0, le=3600)
    backoff_cap_seconds: float = Field(default=300.0, gt=0, le=24 * 3600)
    discord_rate: float = Field(
        default=50.0, gt=0, le=50
    )  # requests/s for the bot (one budget shared by replicas on PostgreSQL); Discord allows 50
    window_margin: float = Field(
        default=0.03, ge=0, le=1
    )  # seconds each one-second window is held longer (both platforms), for jitter
    # A global 429 means requests reached the platform closer together than they were spaced (network
    # and event-loop delays the margin did not cover), and what bunched them tends to last: three
    # replicas on a two-core machine busy writing to disk met 429s scattered across a whole 20 s
    # fan-out, not in one burst. So after one, Discord requests go this much slower (every replica, on
    # PostgreSQL) for this long; with no 429 the full rate is kept.
    careful_slowdown: float = Field(default=0.05, ge=0, le=1)  # 0.05: 5 % slower
    careful_seconds: float = Field(default=30.0, ge=0, le=3600)
    slack_rate: float = Field(default=20.0, gt=0, le=1000)  # chat.postMessage/s per process (workspace cap)
    slack_channel_rate: float = Field(default=1.0, gt=0, le=100)  # chat.postMessage/s per channel
    # On PostgreSQL every replica draws Discord requests from one budget in the database (discord_rate
    # for the bot as a whole); off, each process keeps to discord_rate on its own.
    shared_discord_budget: bool = True


class FeedSettings(_Section):
    """How feeds are polled (NEWSBOT_FEEDS__*); `newsbot feeds add` follows one."""

    enabled: bool = True  # `newsbot run` polls due feeds
    interval_minutes: float = Field(default=15.0, ge=5, le=24 * 60)  # between polls of one feed
    min_interval_minutes: float = Field(default=5.0, ge=5, le=24 * 60)  # no server hint polls faster
    max_interval_hours: float = Field(default=24.0, gt=0, le=24 * 7)  # no hint polls slower
    tick_seconds: float = Field(default=10.0, gt=0, le=300)  # how often due feeds are looked for
    concurrency: int = Field(default=50, ge=1, le=1000)  # feeds fetched at once per process
    per_host: int = Field(default=2, ge=1, le=16)  # connections to one host at once
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)  # a whole fetch, redirects included
    read_timeout_seconds: float = Field(default=10.0, gt=0, le=300)  # silence between reads
    max_body_mb: float = Field(default=10.0, gt=0, le=200)  # decompressed
    pause_after_hours: float = Field(default=7 * 24.0, gt=0, le=24 * 365)  # failing this long pauses a feed
    stale_after_days: float = Field(default=7.0, gt=0, le=3650)  # an entry dated older is not alerted
    lease_seconds: float = Field(default=300.0, ge=30, le=3600)  # a process that dies mid-poll frees it
    forget_after_days: float = Field(default=90.0, ge=1, le=3650)  # seen keys gone this long are dropped


class Settings(BaseSettings):
    """All of newsbot's settings; build with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        allow_inf_nan=False,
    )

    database_url: str = "sqlite:///var/newsbot.db"
    taxonomy_path: Path = DEFAULT_CONFIG.parent / "topics.yaml"
    log_level: Annotated[LogLevel, BeforeValidator(_upper)] = "INFO"
    config: Path | None = None  # set through NEWSBOT_CONFIG: which TOML file was read
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    feeds: FeedSettings = Field(default_factory=FeedSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read arguments, then the environment, then .env, then the TOML file."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    def platforms(self) -> list[str]:
        """Return the chat platforms that have credentials."""
        return [
            name
            for name, on in (("discord", self.discord.configured), ("slack", self.slack.configured))
            if on
        ]

    def masked(self) -> dict[str, Any]:
        """Return the effective settings with every secret masked, for `newsbot config check`."""
        return self.model_dump(mode="json")  # SecretStr dumps as "**********"


def _has(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


def _is_fernet_key(key: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(key)
    except ValueError:  # also binascii.Error, a subclass
        return False
    return True


def load_settings(config_file: Path | None = None) -> Settings:
    """Load settings from `config_file` (or $NEWSBOT_CONFIG, or config/newsbot.toml if present) and the env."""
    explicit = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    path = explicit or DEFAULT_CONFIG
    if explicit is not None and not path.is_file():
        raise SettingsError(f"{path}: config file not found")
    toml_file = path if path.is_file() else None
    if toml_file is not None:
        try:
            tomllib.loads(toml_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{toml_file}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{toml_file}: invalid TOML: {exc}") from None

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=toml_file)

    try:
        return _FromFile()
    except ValidationError as exc:
        raise SettingsError(format_settings_errors(exc, toml_file)) from None


def format_settings_errors(exc: ValidationError, toml_file: Path | None = None) -> str:
    """Return one line per problem, naming where the bad value came from and the setting's real names.

    A list item's position is part of the TOML key (`discord.guild_ids[0]`) but not of the variable,
    which is always the whole list (`NEWSBOT_DISCORD__GUILD_IDS`).
    """
    dotenv = _dotenv_names()
    lines = []
    for err in exc.errors():
        names = [str(p) for p in err["loc"] if isinstance(p, str)]
        dotted = ".".join(names) + "".join(f"[{p}]" for p in err["loc"] if isinstance(p, int))
        env = "NEWSBOT_" + "__".join(names).upper()
        if any(name.upper() == env for name in os.environ):
            where = "environment"
        elif env in dotenv:
            where = ".env"
        else:
            where = str(toml_file) if toml_file else "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {dotted} ({env}): {message}")
    return "; ".join(lines)


def _dotenv_names() -> set[str]:
    # pydantic-settings reads .env with python-dotenv; the same parser says which names it holds.
    from dotenv import dotenv_values

    env_file = Settings.model_config.get("env_file")
    path = Path(str(env_file)) if env_file else None
    if path is None or not path.is_file():
        return set()
    return {name.upper() for name in dotenv_values(path)}
