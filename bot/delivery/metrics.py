"""Prometheus metrics of one process, in their own registry (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.store.outbox import STATUSES


class DeliveryMetrics:
    """Deliveries by status and platform, send latency, queue depth and the last tick."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "newsbot_deliveries",
            "Deliveries this process finished, by final status and platform.",
            ["status", "platform"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "newsbot_rate_limited",
            "Posts answered with 429 (not counted as attempts), by platform.",
            ["platform"],
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "newsbot_send_seconds",
            "Time one platform post took, by platform.",
            ["platform"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "newsbot_outbox_depth",
            "Outbox rows by status, as of the last tick.",
            ["status"],
            registry=self.registry,
        )
        self.last_tick = Gauge(
            "newsbot_last_tick_timestamp_seconds",
            "When this process last looked for due schedules (Unix time).",
            registry=self.registry,
        )
        self.ingested = Counter(
            "newsbot_ingested_summaries",
            "Summaries received through the API or the watch folder, by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    def set_depth(self, counts: dict[str, int]) -> None:
        """Record how many outbox rows are in each status."""
        for status in STATUSES:
            self.queue_depth.labels(status=status).set(counts.get(status, 0))

    def render(self) -> bytes:
        """Return the text exposition of every metric."""
        return bytes(generate_latest(self.registry))
