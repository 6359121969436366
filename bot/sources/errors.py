"""The one error shape of outside sources: a refused page, OPML file or feed, with a one-line reason.

Callers put their own location (file, URL, feed name) in front of `reason`, so the reason never
repeats it; catching `SourceError` handles every source's refusal the same way.
"""

from __future__ import annotations


class SourceError(ValueError):
    """An input that cannot be used; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
