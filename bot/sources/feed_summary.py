"""A feed entry becomes a format-v1 summary, so everything downstream treats feed stories like files.

Only the entry's own words are used: the headline is its title, the lede its opening sentences,
the body the rest of its text, verbatim. Entries written like newsbot's articles (`- Label: text`
discussion areas) go through the same article parser as `.txt` files, so their areas become topics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import ValidationError

from bot.core.article import UNHEADED_TITLE, ArticleError, parse_article
from bot.core.loader import format_validation_error
from bot.core.summary import HEADLINE_MAX, Section, Source, Summary, slugify
from bot.sources.feed import FeedEntry

# A lede is "the one-paragraph gist" (summary-format.md); past this length a paragraph is the body,
# and the lede keeps only its opening sentences.
LEDE_MAX_CHARS = 600
_LABELLED_ITEM = re.compile(r"^[ \t]*(?:[-*+•])[ \t]+[^:\n]{1,60}:[ \t]+\S", re.MULTILINE)
# A sentence ends at . ! ? or … (perhaps inside closing quotes or brackets) followed by space and a
# capital, digit or opening quote. Hand-written because a lede cut needs only the first few
# boundaries, and a wrong cut loses nothing: the rest of the paragraph stays in the body.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]»]*\s+(?=[\"“‘(«]?[A-Z0-9À-Ý])")


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An entry that cannot become a summary, and why (for the feed's log line)."""

    position: int
    reason: str


def entry_to_summary(entry: FeedEntry, *, feed_title: str, feed_url: str) -> Summary | SkippedEntry:
    """Return the entry as a summary, or a SkippedEntry saying why it cannot be one.

    `feed_url` names the outlet when the feed has no title; the story's URL is the entry's link only.
    """
    title = " ".join(entry.title.split())
    text = entry.text.strip()
    where = f"entry {entry.position + 1}"
    if not title and not text:
        return SkippedEntry(entry.position, f"{where} has neither a title nor any text")
    headline = _cut(title or " ".join(_sentences(text)[0].split()), HEADLINE_MAX)
    # Only the entry's own web link is the story's URL: the feed URL is an XML file, and as the
    # summary id's basis it would give every link-less entry of a feed the same digest.
    source_url = _web_url(entry.link)
    tags = list(dict.fromkeys(slug for slug in (slugify(t, max_len=80) for t in entry.tags) if slug))
    lede, topics, sections = _body(headline, text)
    try:
        return Summary(
            headline=headline,
            lede=lede,
            published=entry.published or entry.updated,
            # A feed without a title is still somebody's: its host names the outlet.
            source=Source(name=feed_title.strip() or urlsplit(feed_url).hostname or None, url=source_url),
            topics=topics,
            sections=sections,
            tags=tags,
        )
    except ValidationError as exc:
        return SkippedEntry(entry.position, f"{where}: " + "; ".join(format_validation_error(exc)))


def _body(headline: str, text: str) -> tuple[str | None, list[Section], list[Section]]:
    if not text:
        return None, [], []
    if _LABELLED_ITEM.search(text):
        try:
            article = parse_article(f"{headline}\n\n{text}")
        except (ArticleError, ValidationError):
            pass  # not article-shaped after all; the plain layout below keeps every word
        else:
            return article.lede, list(article.topics), list(article.sections)
    first, _, rest = text.partition("\n\n")
    lede = first
    if len(first) > LEDE_MAX_CHARS:
        sentences = _sentences(first)
        lede = sentences[0]
        for sentence in sentences[1:]:
            if len(lede) + 1 + len(sentence) > LEDE_MAX_CHARS:
                break
            lede = f"{lede} {sentence}"
        remainder = first[len(lede) :].strip()
        rest = f"{remainder}\n\n{rest}".strip() if remainder else rest
    sections = [Section(title=UNHEADED_TITLE, text=rest.strip())] if rest.strip() else []
    return lede, [], sections


def _web_url(url: str | None) -> str | None:
    # The core's own rule decides what a source URL may be (http or https, a host).
    try:
        return Source(url=url).url if url else None
    except ValidationError:
        return None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()] or [text.strip()]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip() + "…"
