"""Tagging finds topics as whole words, tolerates plurals and phrases, and keeps acronyms to their casing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.summary import Section, Summary
from bot.core.tagging import Tagger, _trie_pattern
from bot.core.taxonomy import is_acronym, load_taxonomy, normalize_term, word_forms

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "topics.yaml"


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_taxonomy(SHIPPED))


@pytest.mark.parametrize(
    "text",
    [
        "Taiwan said again that talks would continue.",
        "The Taiwanese delegation was AIMING high; maiden voyage; Thai airline.",
        "ai is not the acronym in lowercase",
    ],
)
def test_ai_never_matches_inside_other_words_or_in_the_wrong_case(tagger: Tagger, text: str) -> None:
    assert "ai" not in tagger.topics_in(text)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("AI is reshaping industry.", "ai"),
        ("AI-enabled targeting", "ai"),
        ("fuelling the AI revolution", "ai"),
        ("advances in artificial intelligence", "ai"),
        ("UAVs were seen", "drones"),
        ("a counter-drone system", "drones"),
        ("counter drone systems", "drones"),
        ("unmanned aerial vehicles", "drones"),
        ("chipmakers expand", "semiconductors"),
        ("new foundries in Arizona", "semiconductors"),
        ("CHIPS are scarce", "semiconductors"),
        ("rare earths and lithium", "critical-minerals"),
        ("rare-earth magnets", "critical-minerals"),
        ("tax-related obstacles", "taxation"),
        ("supply-chain resilience", "supply-chains"),
        ("a new export ban", "export-controls"),
    ],
)
def test_words_plurals_phrases_and_acronyms_are_found(tagger: Tagger, text: str, topic: str) -> None:
    assert topic in tagger.topics_in(text)


def test_partial_words_do_not_match(tagger: Tagger) -> None:
    assert tagger.topics_in("The taxi driver's chipper mood and droned-on speech") == ()


def test_summary_sections_get_their_own_topics_and_the_story_the_union(tagger: Tagger) -> None:
    summary = Summary(
        headline="Partners talk about chips",
        topics=[
            Section(title="Drone Technology", text="Certification of drone components."),
            Section(title="Taxation Barriers", text="Resolving double taxation.", tags=["my-desk"]),
        ],
        sections=[Section(title="Context", text="Nothing to see.")],
        tags=["defense", "local-politics"],
    )
    tagged = tagger.tag_summary(summary)
    assert tagged.section_topics == (("drones",), ("taxation", "my-desk"), ())
    assert [s.tags for s in tagged.summary.topics] == [["drones"], ["taxation", "my-desk"]]
    assert set(tagged.topics) == {
        "semiconductors",
        "drones",
        "taxation",
        "defense",
        "my-desk",
        "local-politics",
    }
    assert tagged.unknown_tags == ("local-politics", "my-desk")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_tagging_any_text_returns_known_ids(tagger: Tagger, text: str) -> None:
    found = tagger.topics_in(text)
    assert set(found) <= set(tagger.taxonomy.ids())
    assert len(found) == len(set(found))


# Words that name no topic, so a sentence built from them and topic terms must tag exactly the terms' topics.
_FILLER = (
    "The",
    "report",
    "said",
    "on",
    "Tuesday",
    "that",
    "officials",
    "would",
    "meet",
    "again",
    "Taiwan",
    "maiden",
)
_SEPARATORS = (" ", "-", "  ", "\n", " - ")
_PUNCTUATION = (" ", ", ", ". ", "; ", " (", ") ", ": ", "\n\n")


@pytest.fixture(scope="module")
def spellings(tagger: Tagger) -> list[tuple[str, str]]:
    """(topic id, name) for every name the tagger finds as written: all but an id that spells an acronym."""
    return [
        (t.id, name)
        for t in tagger.taxonomy.topics
        for name in t.names()
        if tagger.topics_in(name) == (t.id,)
    ]


@st.composite
def _mention(draw: st.DrawFn, spellings: list[tuple[str, str]]) -> tuple[str, str]:
    """A topic name as a writer might put it: any plural, any casing (acronyms keep theirs), any separator."""
    topic, name = draw(st.sampled_from(spellings))
    if is_acronym(name):
        return topic, name + draw(st.sampled_from(("", "s")))
    form = draw(st.sampled_from(sorted(word_forms(name))))
    form = draw(st.sampled_from((str.lower, str.upper, str.title, str.capitalize)))(form)
    return topic, draw(st.sampled_from(_SEPARATORS)).join(form.split(" "))


@st.composite
def _story(draw: st.DrawFn, spellings: list[tuple[str, str]]) -> tuple[str, set[str]]:
    """A sentence of filler words with topic mentions between them, and the topics it mentions."""
    parts: list[str] = []
    topics: set[str] = set()
    for _ in range(draw(st.integers(1, 6))):
        parts.extend(draw(st.lists(st.sampled_from(_FILLER), max_size=4)))
        topic, mention = draw(_mention(spellings))
        parts.append(mention)
        topics.add(topic)
    text = "".join(p + draw(st.sampled_from(_PUNCTUATION)) for p in parts)
    return text, topics


def test_the_filler_words_of_the_property_tests_name_no_topic(tagger: Tagger) -> None:
    assert tagger.topics_in(" ".join(_FILLER)) == ()


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_every_topic_a_story_mentions_is_found_and_no_other(
    tagger: Tagger, spellings: list[tuple[str, str]], data: st.DataObject
) -> None:
    text, topics = data.draw(_story(spellings))
    found = tagger.topics_in(text)
    assert set(found) == topics, text
    assert list(found) == [t for t in tagger.taxonomy.ids() if t in topics]  # in taxonomy order


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_topic_word_glued_inside_a_longer_word_is_not_found(
    tagger: Tagger, spellings: list[tuple[str, str]], data: st.DataObject
) -> None:
    topic, name = data.draw(st.sampled_from([s for s in spellings if " " not in s[1]]))
    glued = (
        data.draw(st.sampled_from(("x", "Pre", "un")))
        + name
        + data.draw(st.sampled_from(("", "zz", "ation")))
    )
    assert topic not in tagger.topics_in(f"They said {glued} again."), glued


class _ReferenceTagger:
    """Tagging as it was before the one-pass scan: one regex pass per text, topic ids kept as sets.

    Kept as the oracle the one-pass Tagger must agree with exactly; slow, plain and obviously right.
    """

    def __init__(self, tagger: Tagger) -> None:
        self.order = {t: i for i, t in enumerate(tagger.taxonomy.ids())}
        self.words: dict[str, str] = {}
        self.acronyms: dict[str, str] = {}
        for topic in tagger.taxonomy.topics:
            names = list(topic.names())
            shouted = {n.lower() for n in names if is_acronym(n)}
            for name in names:
                if is_acronym(name):
                    self.acronyms[name] = self.acronyms[name + "s"] = topic.id
                elif normalize_term(name) not in shouted:
                    self.words.update(dict.fromkeys(word_forms(name), topic.id))
        self.word_re = re.compile(r"\b(" + _trie_pattern(self.words) + r")\b")
        self.acronym_re = re.compile("(" + _trie_pattern(self.acronyms) + r")(?![^\W_])")

    def find(self, *texts: str | None) -> set[str]:
        text = " | ".join(t for t in texts if t)
        found = {
            self.words.get(m) or self.words[normalize_term(m)] for m in self.word_re.findall(text.lower())
        }
        for m in self.acronym_re.finditer(text):
            if m.start() == 0 or not text[m.start() - 1].isalnum():
                found.add(self.acronyms[m.group(1)])
        return found

    def ordered(self, ids: set[str]) -> tuple[str, ...]:
        known = sorted((t for t in ids if t in self.order), key=self.order.__getitem__)
        return (*known, *sorted(t for t in ids if t not in self.order))

    def tag(self, summary: Summary) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...], tuple[str, ...]]:
        """Return (each section's topics, the story's topics, its unknown tags)."""
        union, every_tag, per_section = set(summary.tags), set(summary.tags), []
        for section in summary.all_sections():
            found = self.find(section.title, section.text) | set(section.tags)
            every_tag.update(section.tags)
            union.update(found)
            per_section.append(self.ordered(found))
        union.update(
            self.find(
                summary.headline, summary.lede, summary.significance, *summary.agreements, *summary.context
            )
        )
        unknown = tuple(sorted(t for t in every_tag if t not in self.order))
        return tuple(per_section), self.ordered(union), unknown


@pytest.fixture(scope="module")
def reference(tagger: Tagger) -> _ReferenceTagger:
    return _ReferenceTagger(tagger)


_TAGS = st.lists(st.sampled_from(("drones", "ai", "taxation", "my-desk", "local-politics", "zz")), max_size=3)


@st.composite
def _summary(draw: st.DrawFn, spellings: list[tuple[str, str]]) -> Summary:
    """A story whose every text mentions topic terms between filler words, with some tags of its own."""

    def text() -> str:
        return draw(_story(spellings))[0].strip() or "x"

    def section() -> Section:
        return Section(title=text(), text=draw(st.sampled_from(("", text()))), tags=draw(_TAGS))

    return Summary(
        headline=text()[:300],
        lede=draw(st.sampled_from((None, text()))),
        significance=draw(st.sampled_from((None, text()))),
        agreements=[text() for _ in range(draw(st.integers(0, 2)))],
        context=[text() for _ in range(draw(st.integers(0, 2)))],
        topics=[section() for _ in range(draw(st.integers(0, 6)))],
        sections=[section() for _ in range(draw(st.integers(0, 3)))],
        tags=draw(_TAGS),
    )


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_story_is_tagged_exactly_as_one_pass_per_section_tags_it(
    tagger: Tagger, reference: _ReferenceTagger, spellings: list[tuple[str, str]], data: st.DataObject
) -> None:
    summary = data.draw(_summary(spellings))
    tagged = tagger.tag_summary(summary)
    section_topics, topics, unknown = reference.tag(summary)
    assert tagged.section_topics == section_topics
    assert tagged.topics == topics
    assert tagged.unknown_tags == unknown
    assert [tuple(s.tags) for s in tagged.summary.all_sections()] == list(section_topics)


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(("\x00", "\x01", " \x00 ", "\x00\x00")))
def test_text_holding_nul_characters_is_tagged_as_without_the_one_pass_scan(
    tagger: Tagger,
    reference: _ReferenceTagger,
    spellings: list[tuple[str, str]],
    data: st.DataObject,
    glue: str,
) -> None:
    text = glue.join(data.draw(_story(spellings))[0] for _ in range(data.draw(st.integers(1, 3))))
    assert tagger.topics_in(text) == reference.ordered(reference.find(text)), repr(text)
