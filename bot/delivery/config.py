"""Delivery settings, nested in Settings as `delivery` (NEWSBOT_DELIVERY__*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DeliverySettings(BaseModel):
    """How scheduled digests and topic alerts are posted."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True  # `newsbot run` starts the tick, the sender and the HTTP API
    grace_hours: float = Field(default=6.0, ge=0, le=24 * 14)  # how old a missed slot may be and still post
    tick_seconds: float = Field(default=5.0, gt=0, le=300)  # how often due schedules are looked for
    poll_seconds: float = Field(default=1.0, gt=0, le=60)  # how often the outbox is looked at when idle
    watch_folder: Path | None = None  # summaries dropped here are ingested, then moved aside
    alert_on_revision: bool = False  # a changed story alerts its followers again
    serve_http: bool = True  # the ingest API, /healthz and /metrics (see [api])
    lease_seconds: float = Field(
        default=120.0, gt=0
    )  # a process that dies mid-send gives its rows up after this
    concurrency: int = Field(default=64, ge=1, le=1000)  # deliveries in flight per process
    max_attempts: int = Field(default=8, ge=1, le=100)  # 5xx/timeouts before a delivery is dead
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_cap_seconds: float = Field(default=300.0, gt=0)
    discord_rate: float = Field(
        default=50.0, gt=0, le=50
    )  # requests/s per process; Discord allows 50 per bot
    window_margin: float = Field(
        default=0.03, ge=0, le=1
    )  # seconds each one-second window is held longer (both platforms), for jitter
    slack_rate: float = Field(default=20.0, gt=0)  # chat.postMessage/s per process (workspace cap)
    slack_channel_rate: float = Field(default=1.0, gt=0)  # chat.postMessage/s per channel
