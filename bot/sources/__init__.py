"""Outside sources (feeds, web pages) turned into summaries; imports only bot.core and bot.settings."""
