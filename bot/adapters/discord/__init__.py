"""The Discord adapter: slash commands, channel posts and the create-message bodies they send."""
