"""Feed entries become valid format-v1 summaries built only from the entry's own words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.core.summary import HEADLINE_MAX, Summary
from bot.sources.feed import FeedEntry, parse_feed
from bot.sources.feed_summary import SkippedEntry, entry_to_summary

FIXTURES = Path(__file__).parent / "fixtures"
FEED_URL = "https://desk.example/atom.xml"


def _entry(**fields: object) -> FeedEntry:
    values: dict[str, object] = {
        "title": "Budget passes",
        "link": "https://desk.example/budget",
        "published": None,
        "updated": None,
        "author": None,
        "text": "",
        "tags": (),
        "position": 0,
        "raw_id": "b-1",
    }
    values.update(fields)
    return FeedEntry(**values)  # type: ignore[arg-type]


def _summary(entry: FeedEntry, feed_title: str = "Trade & Tech Desk") -> Summary:
    result = entry_to_summary(entry, feed_title=feed_title, feed_url=FEED_URL)
    assert isinstance(result, Summary), result
    return result


async def test_an_atom_entry_with_labelled_areas_becomes_topics_like_an_article() -> None:
    parsed = await parse_feed((FIXTURES / "atom.xml").read_bytes(), url=FEED_URL)
    summary = _summary(parsed.entries[0], parsed.title)
    assert summary.headline == "Partners hold sixth economic dialogue"
    assert summary.source is not None
    assert summary.source.name == "Trade & Tech Desk"
    assert summary.source.url == "https://desk.example/2026/12/dialogue"
    assert summary.published == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert [t.title for t in summary.topics] == ["Supply Chain Security", "Drone Technology"]
    assert summary.topics[1].text == "a joint working group on drone parts starts in March."
    assert summary.lede is not None
    assert summary.lede.startswith("Officials from both sides met in Taipei")
    assert summary.tags == ["supply-chains", "drones"]
    assert "Both sides called the meeting a success." in " ".join(s.text for s in summary.sections)


def test_the_lede_is_the_first_paragraph_and_the_rest_is_the_body_verbatim() -> None:
    summary = _summary(
        _entry(text="Parliament passed the budget.\n\nThe vote was 90 to 60.\n\nIt takes effect in May.")
    )
    assert summary.lede == "Parliament passed the budget."
    assert [s.text for s in summary.sections] == ["The vote was 90 to 60.\n\nIt takes effect in May."]


def test_a_long_first_paragraph_gives_a_lede_of_whole_sentences_and_keeps_the_rest() -> None:
    first = "Short opening sentence here. " + "This sentence is long filler about the budget debate. " * 20
    summary = _summary(_entry(text=first.strip()))
    assert summary.lede is not None
    assert summary.lede.startswith("Short opening sentence here.")
    assert len(summary.lede) <= 600
    assert summary.lede.endswith(".")
    body = " ".join(s.text for s in summary.sections)
    assert " ".join(f"{summary.lede} {body}".split()) == " ".join(first.split())


def test_published_falls_back_to_updated() -> None:
    when = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert _summary(_entry(updated=when)).published == when


def test_an_entry_without_a_title_is_headed_by_its_first_sentence() -> None:
    summary = _summary(_entry(title="", text="First frost last night. The dahlias are done."))
    assert summary.headline == "First frost last night."


def test_a_headline_from_text_is_one_line() -> None:
    summary = _summary(_entry(title="", text="Frost warning\nfor the valley tonight. Cover plants."))
    assert summary.headline == "Frost warning for the valley tonight."


def test_an_overlong_title_is_cut_at_a_word_to_fit_the_headline_limit() -> None:
    summary = _summary(_entry(title="word " * 100))
    assert len(summary.headline) <= HEADLINE_MAX
    assert summary.headline.endswith("word…")


def test_an_entry_with_neither_title_nor_text_is_skipped_with_a_reason() -> None:
    result = entry_to_summary(_entry(title=" ", text="", position=3), feed_title="F", feed_url=FEED_URL)
    assert result == SkippedEntry(3, "entry 4 has neither a title nor any text")


def test_an_entry_without_a_web_link_names_its_feed_but_links_nowhere() -> None:
    summary = _summary(_entry(link="tag:desk.example,2026:x"))
    assert summary.source is not None
    assert summary.source.name == "Trade & Tech Desk"
    assert summary.source.url is None


def test_a_feed_without_a_title_is_named_by_its_host() -> None:
    summary = _summary(_entry(), feed_title="  ")
    assert summary.source is not None
    assert summary.source.name == "desk.example"


def test_two_linkless_entries_with_one_title_on_different_days_are_different_stories() -> None:
    monday = _summary(_entry(link=None, published=datetime(2026, 11, 30, tzinfo=UTC)))
    tuesday = _summary(_entry(link=None, published=datetime(2026, 12, 1, tzinfo=UTC)))
    assert monday.id != tuesday.id


def test_the_same_entry_twice_is_the_same_summary_id() -> None:
    assert _summary(_entry()).id == _summary(_entry(text="edited later")).id


def test_categories_that_make_no_slug_are_left_out() -> None:
    assert _summary(_entry(tags=("Économie", "!!!", "economie"))).tags == ["economie"]


async def test_every_corpus_like_fixture_entry_becomes_a_summary_or_a_reasoned_skip() -> None:
    for name in ("rss091.xml", "rss10.rdf", "atom.xml", "jsonfeed10.json", "no_ids_dates_links.xml"):
        parsed = await parse_feed((FIXTURES / name).read_bytes(), url=FEED_URL)
        for entry in parsed.entries:
            result = entry_to_summary(entry, feed_title=parsed.title, feed_url=FEED_URL)
            if isinstance(result, SkippedEntry):
                assert not entry.title
                assert not entry.text
            else:
                assert Summary.model_validate(result.model_dump()) == result
