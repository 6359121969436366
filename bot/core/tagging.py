"""Finding a taxonomy's topics in text: whole words, plural-tolerant, acronyms in their own casing."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.core.ports import TaggedSummary
from bot.core.summary import Section, Summary
from bot.core.taxonomy import Taxonomy, is_acronym, normalize_term, word_forms

_SEPARATOR_PATTERN = r"[\s\-‐‑–]+"
_WORD_EDGE_AFTER = r"(?![^\W_])"


def _trie_pattern(terms: Iterable[str]) -> str:
    """Return one regex alternation for many terms, sharing their common prefixes.

    Written by hand because Python's `re` tries alternatives one by one: a flat
    alternation of a few hundred terms is several times slower than the same terms
    folded into a trie, and tagging runs over every section at ingest.
    """
    trie: dict[str, dict] = {}  # type: ignore[type-arg]  # recursive: char → subtrie, "" → end
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:  # type: ignore[type-arg]
        ends = "" in node
        branches = [
            (_SEPARATOR_PATTERN if char == " " else re.escape(char)) + emit(child)
            for char, child in sorted(node.items())
            if char != ""
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    return emit(trie)


class Tagger:
    """Tag text and summaries with the topic ids of a taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self._order = {t.id: i for i, t in enumerate(taxonomy.topics)}
        words: dict[str, str] = {}  # normalised form → topic id
        acronyms: dict[str, str] = {}  # exact form → topic id
        for topic in taxonomy.topics:
            names = list(topic.names())
            # An id such as "ai" spells an acronym in lowercase; tagging must not match "ai" in any casing.
            shouted = {n.lower() for n in names if is_acronym(n)}
            for name in names:
                if is_acronym(name):
                    acronyms[name] = topic.id
                    acronyms[name + "s"] = topic.id
                elif normalize_term(name) not in shouted:
                    for form in word_forms(name):
                        words[form] = topic.id
        self._words = words
        self._acronyms = acronyms
        # Words run over lowercased text with \b on both sides (measured fastest of the variants);
        # acronyms run case-sensitively and check the character before a match by hand, because a
        # pattern that starts with a lookbehind cannot use the regex engine's first-character scan.
        self._word_re = re.compile(r"\b(" + _trie_pattern(words) + r")\b") if words else None
        self._acronym_re = (
            re.compile("(" + _trie_pattern(acronyms) + ")" + _WORD_EDGE_AFTER) if acronyms else None
        )

    def topics_in(self, *texts: str | None) -> tuple[str, ...]:
        """Return the topic ids named anywhere in `texts`, in taxonomy order."""
        return self._ordered(self._find(texts))

    def _find(self, texts: Iterable[str | None]) -> set[str]:
        # One pass over all texts: " | " cannot be part of a phrase, so no match spans two texts.
        text = " | ".join(t for t in texts if t)
        found: set[str] = set()
        if not text:
            return found
        words = self._words
        if self._word_re is not None:
            for match in self._word_re.findall(text.lower()):
                topic = words.get(match) or words.get(normalize_term(match))
                if topic is not None:
                    found.add(topic)
        if self._acronym_re is not None:
            for m in self._acronym_re.finditer(text):
                start = m.start()
                if start == 0 or not text[start - 1].isalnum():
                    topic = self._acronyms.get(m.group(1))
                    if topic is not None:
                        found.add(topic)
        return found

    def _ordered(self, ids: set[str]) -> tuple[str, ...]:
        # Known topics in taxonomy order, then unknown ones alphabetically.
        if len(ids) < 2:
            return tuple(ids)
        order = self._order
        known = sorted((t for t in ids if t in order), key=order.__getitem__)
        if len(known) == len(ids):
            return tuple(known)
        return (*known, *sorted(t for t in ids if t not in order))

    def tag_summary(self, summary: Summary) -> TaggedSummary:
        """Tag every section (title and text) and the whole story; unknown tags are kept and listed."""
        section_topics: list[tuple[str, ...]] = []
        union: set[str] = set(summary.tags)
        every_tag: set[str] = set(summary.tags)

        def tag(section: Section) -> Section:
            found = self._find((section.title, section.text))
            found.update(section.tags)
            every_tag.update(section.tags)
            union.update(found)
            ids = self._ordered(found)
            section_topics.append(ids)
            # model_construct: the section was validated on the way in and only its tags change.
            return Section.model_construct(title=section.title, text=section.text, tags=list(ids))

        tagged_topics = [tag(s) for s in summary.topics]
        tagged_sections = [tag(s) for s in summary.sections]
        union.update(
            self._find(
                (summary.headline, summary.lede, summary.significance, *summary.agreements, *summary.context)
            )
        )
        return TaggedSummary(
            summary=summary.model_copy(update={"topics": tagged_topics, "sections": tagged_sections}),
            section_topics=tuple(section_topics),
            topics=self._ordered(union),
            unknown_tags=tuple(sorted(t for t in every_tag if t not in self.taxonomy)),
        )
