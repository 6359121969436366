"""Outside sources (feeds and web pages) turned into format-v1 summaries.

The core's only input is the structured summary; this package is the ingest step that makes one from
what the web publishes. Its parsing modules are pure (bytes in, values out) so the fetcher, the store
and the poller can each be tested apart from them; only the poller touches the store.
"""
