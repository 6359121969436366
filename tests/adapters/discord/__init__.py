"""Tests for the Discord adapter, run against the loopback Discord in tests/fakes/discord.py."""
