"""Following feeds: the poller every replica runs, over bot.sources (fetch, parse, decide) and bot.store."""
