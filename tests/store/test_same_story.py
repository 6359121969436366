"""One story stored under two ids is recognised by its headline; different stories sharing one stay apart."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from bot.core.loader import Loaded, load_file
from bot.core.ports import TaggedSummary
from bot.store.archive import SqlArchive, headline_fingerprint
from tests.store.conftest import T0, story

ROOT = Path(__file__).resolve().parents[2]


def _example(suffix: str) -> TaggedSummary:
    [loaded] = load_file(ROOT / "examples" / f"us-taiwan-dialogue{suffix}")
    assert isinstance(loaded, Loaded)
    return TaggedSummary(loaded.summary, (), ())


async def test_the_example_article_and_its_summary_are_one_story_in_either_order(archive: SqlArchive) -> None:
    txt, yaml = _example(".txt"), _example(".yaml")
    assert txt.summary.id != yaml.summary.id
    assert await archive.put_many([txt], T0) == ["created"]
    assert await archive.put_many([yaml], T0) == ["updated"]
    assert await archive.count_stories() == 1
    kept = await archive.recent_stories()
    assert [s.summary.id for s in kept] == [txt.summary.id]  # the id it was first stored under
    assert kept[0].summary.published == yaml.summary.published


async def test_the_two_example_files_ingested_together_store_one_story(archive: SqlArchive) -> None:
    assert await archive.put_many([_example(".txt"), _example(".yaml")], T0) == ["created", "updated"]
    assert await archive.count_stories() == 1


async def test_same_headline_with_another_url_or_day_is_another_story(archive: SqlArchive) -> None:
    briefing = [
        story(1, headline="Daily briefing"),
        story(2, headline="Daily briefing", published=T0),  # same day, other URL
    ]
    assert await archive.put_many(briefing[:2], T0) == ["created", "created"]
    assert await archive.count_stories() == 2


@given(st.text(max_size=80), st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", max_size=40))
def test_a_fingerprint_ignores_case_spacing_and_punctuation(headline: str, ascii_words: str) -> None:
    assert headline_fingerprint("  " + headline.replace(" ", "  ") + " !") == headline_fingerprint(headline)
    assert headline_fingerprint(ascii_words.upper()) == headline_fingerprint(ascii_words)
