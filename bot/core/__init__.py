"""Platform-free core: summaries, topics, digests, commands."""
