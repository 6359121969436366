"""Outside sources (feeds, later web pages) turned into format-v1 summaries.

The core's only input is the structured summary; this package is the ingest step that makes one
from what the web publishes. Its modules are pure (bytes in, values out, no I/O of their own) so the
fetcher, the store and the poller can each be tested apart from them, and they import only
`bot.core` from the bot, never a platform, scheduler or database library.
"""
