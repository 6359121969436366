"""Tagging finds topics as whole words, tolerates plurals and phrases, and keeps acronyms to their casing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.summary import Section, Summary
from bot.core.tagging import Tagger
from bot.core.taxonomy import load_taxonomy

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
