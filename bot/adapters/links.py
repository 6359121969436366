"""Platform-neutral pieces of the chat renderers: single-line titles and checked web links."""

from __future__ import annotations

import re
from collections.abc import Callable


def one_line(text: str) -> str:
    """Return `text` as one line, each run of whitespace a single space."""
    # Titles and field names are single lines; a line break from a summary would only split them.
    return " ".join(text.split())


def _as_is(url: str) -> str:
    return url


def web_link(
    url: str | None, pattern: re.Pattern[str], limit: int, escape: Callable[[str], str] = _as_is
) -> str | None:
    """Return `url` trimmed and escaped for a platform, or None unless it matches `pattern` within `limit`."""
    if url is None:
        return None
    url = url.strip()
    if not pattern.fullmatch(url):
        return None
    escaped = escape(url)
    # The limit counts what the platform receives, so it applies after escaping.
    return escaped if len(escaped) <= limit else None
