"""The Slack adapter: the /news command, channel posts and the Block Kit messages they send."""
