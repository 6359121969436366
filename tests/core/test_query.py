"""Resolving what a user typed: synonyms, stems, typos, and nothing at all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.query import QueryError, TopicResolver, complete_topics, validate_query
from bot.core.taxonomy import Taxonomy, load_taxonomy, word_forms

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "topics.yaml"


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(SHIPPED)


@pytest.fixture(scope="module")
def resolver(taxonomy: Taxonomy) -> TopicResolver:
    return TopicResolver(taxonomy)


@pytest.mark.parametrize(
    ("query", "topic", "how"),
    [
        ("drones", "drones", "id"),
        ("Drones", "drones", "id"),
        ("#drones", "drones", "id"),
        ("Critical Minerals", "critical-minerals", "id"),
        ("Trade and Tariffs", "trade-tariffs", "label"),
        ("UAV", "drones", "synonym"),
        ("rare earths", "critical-minerals", "synonym"),
        ("chipmakers", "semiconductors", "synonym"),
        ("droning", "drones", "stem"),
    ],
)
def test_exact_and_stemmed_queries_resolve(resolver: TopicResolver, query: str, topic: str, how: str) -> None:
    found = resolver.resolve(query)
    assert (found.topic_id, found.matched_by) == (topic, how)
    assert found.note is None


def test_a_typo_resolves_and_says_so(resolver: TopicResolver) -> None:
    found = resolver.resolve("drnoes")
    assert found.topic_id == "drones"
    assert found.matched_by == "typo"
    assert found.note == "Showing results for Drones (you typed “drnoes”)"


def test_free_text_resolves_to_no_topic_with_a_close_suggestion(resolver: TopicResolver) -> None:
    found = resolver.resolve("drone certification")
    assert found.topic_id is None
    assert found.suggestions[:1] == ("drones",)


def test_nonsense_resolves_to_nothing(resolver: TopicResolver) -> None:
    found = resolver.resolve("qwxz")
    assert (found.topic_id, found.suggestions) == (None, ())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_resolving_any_text_never_raises(resolver: TopicResolver, text: str) -> None:
    found = resolver.resolve(text)
    assert found.topic_id is None or found.topic_id in resolver.taxonomy


def test_autocomplete_puts_the_prefix_match_first_and_caps_at_25(taxonomy: Taxonomy) -> None:
    assert complete_topics("dro", taxonomy)[0] == ("Drones", "drones")
    assert complete_topics("", taxonomy, limit=25) == [(t.label, t.id) for t in taxonomy.topics[:25]]
    assert len(complete_topics("", taxonomy, limit=3)) == 3
    assert complete_topics("UAV", taxonomy)[0][1] == "drones"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The query is blank"),
        ("   \t ", "The query is blank"),
        ("\x00\x07\x1b", "The query is blank"),
        ("x" * 20_000, "too long: 20000 characters (at most 200)"),
    ],
)
def test_bad_queries_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        validate_query(text)


def test_control_characters_are_dropped_from_a_good_query() -> None:
    assert validate_query("dro\x00nes\x1b  now") == "dro nes now"


@st.composite
def _typed_name(draw: st.DrawFn, taxonomy: Taxonomy) -> tuple[str, str]:
    """A topic's id, label or synonym as a user might type it: any form, casing, separator, # and spacing."""
    topic = draw(st.sampled_from(taxonomy.topics))
    name = draw(st.sampled_from([topic.id, *topic.names()]))
    form = draw(st.sampled_from(sorted(word_forms(name))))
    form = draw(st.sampled_from((str.lower, str.upper, str.title, str.capitalize)))(form)
    form = draw(st.sampled_from((" ", "-", "  "))).join(form.split(" "))
    return topic.id, draw(st.sampled_from(("", "#", "  "))) + form + draw(st.sampled_from(("", " ", "\t")))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_name_of_a_topic_however_typed_resolves_to_that_topic_exactly(
    resolver: TopicResolver, data: st.DataObject
) -> None:
    topic, typed = data.draw(_typed_name(resolver.taxonomy))
    found = resolver.resolve(typed)
    assert (found.topic_id, found.note) == (topic, None), typed
    assert found.matched_by in {"id", "label", "synonym"}


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_name_with_two_letters_swapped_still_finds_its_topic(
    resolver: TopicResolver, data: st.DataObject
) -> None:
    topic = data.draw(st.sampled_from(resolver.taxonomy.topics))
    name = data.draw(
        st.sampled_from(
            [n for n in (topic.id, topic.label) if len(n) >= 8 and " " not in n.strip()] or [topic.label]
        )
    )
    at = data.draw(st.integers(1, len(name) - 3))
    typo = name[:at] + name[at + 1] + name[at] + name[at + 2 :]
    found = resolver.resolve(typo)
    if typo.lower() != name.lower():
        assert found.topic_id == topic.id, typo
