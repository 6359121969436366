"""Tests of the Slack adapter against the loopback Slack in tests/fakes/slack.py."""
