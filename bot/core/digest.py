"""The platform-neutral digest: stories over a period, and how it reads as a neutral reply."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.core.ports import StoredStory
from bot.core.reply import Item, Part, Reply


class DigestSection(BaseModel):
    """One discussion area or narrative part of a story, with its topic ids."""

    model_config = ConfigDict(frozen=True)

    title: str
    text: str
    topics: list[str] = Field(default_factory=list)


class DigestEntry(BaseModel):
    """One story in a digest."""

    model_config = ConfigDict(frozen=True)

    summary_id: str
    headline: str
    lede: str | None = None
    published: AwareDatetime
    source_name: str | None = None
    url: str | None = None
    agreements: list[str] = Field(default_factory=list)
    sections: list[DigestSection] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)


class Digest(BaseModel):
    """Stories over a period, optionally limited to some topics."""

    model_config = ConfigDict(frozen=True)

    title: str
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    topics: list[str] = Field(default_factory=list)
    entries: list[DigestEntry] = Field(default_factory=list)
    more: bool = False  # more stories matched than the digest shows (see MAX_DIGEST_STORIES)

    @property
    def period(self) -> str:
        """Return the date range as a reader sees it, e.g. "2026-11-24 – 2026-11-25"."""
        if self.start is None or self.end is None:
            return ""
        first, last = self.start.date().isoformat(), self.end.date().isoformat()
        return first if first == last else f"{first} – {last}"


def build_digest(
    stories: Sequence[StoredStory],
    *,
    title: str,
    topics: Sequence[str] = (),
    labels: dict[str, str] | None = None,
) -> Digest:
    """Build a digest of `stories`; with `topics`, keep only the sections that touch them.

    A story whose sections touch none of the topics (it matched on its headline or tags) keeps
    all of its sections, so the reader still learns why it is there.
    """
    wanted = set(topics)
    entries: list[DigestEntry] = []
    for story in stories:
        s = story.summary
        sections: list[DigestSection] = []
        tagged = _section_topics(story)
        for section, ids in zip(s.all_sections(), tagged, strict=True):
            sections.append(DigestSection(title=section.title, text=section.text, topics=list(ids)))
        if wanted:
            focused = [sec for sec in sections if wanted.intersection(sec.topics)]
            sections = focused or sections
        entries.append(
            DigestEntry(
                summary_id=s.id,
                headline=s.headline,
                lede=s.lede,
                published=story.published,
                source_name=s.source.name if s.source else None,
                url=s.source.url if s.source else None,
                agreements=list(s.agreements),
                sections=sections,
                topics=list(story.topics),
            )
        )
    dates = [e.published for e in entries]
    label_map = labels or {}
    return Digest(
        title=title,
        start=min(dates) if dates else None,
        end=max(dates) if dates else None,
        topics=[label_map.get(t, t) for t in topics],
        entries=entries,
    )


def _section_topics(story: StoredStory) -> list[tuple[str, ...]]:
    sections = story.summary.all_sections()
    # Tagging writes each section's topic ids into its tags (Tagger.tag_summary), and the store keeps them.
    return [tuple(sec.tags) for sec in sections]


def digest_reply(digest: Digest, labels: dict[str, str] | None = None) -> Reply:
    """Return the digest as a neutral reply: one item per story, each with its full text."""
    label_map = labels or {}
    items = [story_item(entry, label_map) for entry in digest.entries]
    return Reply(title=digest.title, text=digest_intro(digest), items=items)


def story_item(entry: DigestEntry, labels: dict[str, str]) -> Item:
    """Return one story in full: its lede, agreements and every section's whole text."""
    parts: list[Part] = []
    if entry.agreements:
        parts.append(Part(title="Agreements", text="\n".join(f"• {a}" for a in entry.agreements)))
    parts.extend(Part(title=sec.title, text=sec.text) for sec in entry.sections)
    return Item(
        title=entry.headline,
        url=entry.url,
        meta=entry_meta(entry, labels),
        text=entry.lede or "",
        parts=parts,
    )


def entry_meta(entry: DigestEntry, labels: dict[str, str], *, topics_max: int | None = None) -> str:
    """Return a story's line under its headline: source · date · topics (the first `topics_max` of them)."""
    bits = [b for b in (entry.source_name, entry.published.date().isoformat()) if b]
    topics = entry.topics if topics_max is None else entry.topics[:topics_max]
    if topics:
        bits.append(", ".join(labels.get(t, t) for t in topics))
    return " · ".join(bits)


def digest_intro(digest: Digest) -> str:
    """Return the line under a digest's title: how many stories, their period and topics."""
    count = len(digest.entries)
    if not count:
        return "Nothing new in this period."
    intro = f"{count} {'story' if count == 1 else 'stories'}"
    if digest.period:
        intro += f" · {digest.period}"
    if digest.topics:
        intro += f" · topics: {', '.join(digest.topics)}"
    if digest.more:
        intro += f" · showing the latest {count}; more match, ask for a shorter period or a topic"
    return intro
