"""Delivery: cron slots, the outbox and senders (scheduled digests and topic alerts)."""
