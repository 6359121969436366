"""Compact cards and thread replies as a reader meets them: verbatim, cut only where it is marked."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.cards import (
    AREA_SENTENCE_MAX,
    CUT_MARK,
    LEDE_MAX,
    THREAD_NAME_MAX,
    TOPICS_MAX,
    card_item,
    card_reply,
    story_replies,
    thread_name,
)
from bot.core.digest import Digest, DigestEntry, DigestSection
from bot.core.layout import ChannelLayout, plan_alert, plan_digest
from bot.core.sentences import first_sentence, opening_sentences, sentence_ends
from tests.adapters.payload_tools import digests, texts

SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
WHEN = datetime(2026, 12, 1, 8, tzinfo=UTC)
LABELS = {"drones": "Drones", "ai": "Artificial Intelligence", "taxation": "Taxation"}


def _squash(text: str) -> str:
    return " ".join(text.split())


def _entry(lede: str, *sections: str, topics: tuple[str, ...] = ()) -> DigestEntry:
    return DigestEntry(
        summary_id="s1",
        headline="Drone rules agreed",
        lede=lede,
        published=WHEN,
        source_name="Example News",
        url="https://example.com/story",
        sections=[DigestSection(title=f"Area {n}", text=text) for n, text in enumerate(sections)],
        topics=list(topics),
    )


# -- sentence cutting --------------------------------------------------------------------------------


def test_sentence_ends_skip_titles_initials_and_acronyms_before_names() -> None:
    text = "Mr. Smith met Dr. Lee in the U.S. Navy yard. It rained. Then the U.S. The end."
    shown = [text[:end] for end in sentence_ends(text)]
    assert shown == [
        "Mr. Smith met Dr. Lee in the U.S. Navy yard.",
        "Mr. Smith met Dr. Lee in the U.S. Navy yard. It rained.",
        "Mr. Smith met Dr. Lee in the U.S. Navy yard. It rained. Then the U.S.",
    ]


@settings(max_examples=300, deadline=None)
@given(text=texts(max_words=80), limit=st.integers(min_value=1, max_value=400))
def test_opening_sentences_are_a_prefix_cut_only_at_a_sentence_end(text: str, limit: int) -> None:
    shown, cut = opening_sentences(text, limit)
    whole = text.strip()
    assert whole.startswith(shown)
    assert len(shown) <= limit
    assert cut == (shown != whole)
    ends = [end for end in sentence_ends(whole) if end <= limit]
    if cut and ends:  # whole sentences fit: the cut is after the last one that fits
        assert len(shown) == ends[-1]
    elif cut:  # even the first sentence is too long: cut between words, inside it
        assert not shown or whole[len(shown)].isspace() or len(shown) == limit


@settings(max_examples=200, deadline=None)
@given(text=texts(max_words=80))
def test_a_first_sentence_is_the_text_up_to_its_first_end(text: str) -> None:
    shown, cut = first_sentence(text, AREA_SENTENCE_MAX)
    whole = text.strip()
    ends = sentence_ends(whole)
    sentence = whole[: ends[0]] if ends else whole
    assert sentence.startswith(shown)
    assert cut == (shown != sentence)


# -- cards ---------------------------------------------------------------------------------------------


def test_a_long_lede_is_cut_after_its_last_whole_sentence_and_marked() -> None:
    first = "Officials from both sides met in Washington to talk about drones and chips. " * 3
    lede = first + "A final sentence pushes the lede well past the card's length limit for sure."
    item = card_item(_entry(lede), LABELS)
    assert item.text.endswith(CUT_MARK)
    shown = item.text.removesuffix(CUT_MARK)
    assert shown.endswith("chips.")
    assert lede.startswith(shown)
    assert len(item.text) <= LEDE_MAX


def test_a_short_lede_is_shown_whole_without_a_mark() -> None:
    item = card_item(_entry("Drones were discussed. Chips too."), LABELS)
    assert item.text == "Drones were discussed. Chips too."


def test_each_area_is_one_line_of_its_title_and_first_sentence() -> None:
    item = card_item(_entry("Lede.", "Certification was agreed.\nTesting follows. More later."), LABELS)
    assert [(p.title, p.text) for p in item.lines] == [("Area 0", "Certification was agreed.")]


def test_a_card_shows_at_most_three_topics_the_story_page_shows_them_all() -> None:
    entry = _entry("Lede.", topics=("drones", "ai", "taxation", "trade"))
    card = card_item(entry, LABELS)
    assert card.meta == "Example News · 2026-12-01 · Drones, Artificial Intelligence, Taxation"
    [story] = story_replies(Digest(title="News digest", entries=[entry]), LABELS)
    assert story.items[0].meta is not None
    assert "trade" in story.items[0].meta


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(digest=digests())
def test_every_card_sentence_is_verbatim_and_every_cut_is_marked(digest: Digest) -> None:
    reply = card_reply(digest, threaded=True)
    for entry, item in zip(digest.entries, reply.items, strict=True):
        lede = (entry.lede or "").strip()
        shown = item.text.removesuffix(CUT_MARK)
        assert lede.startswith(shown)
        assert len(item.text) <= LEDE_MAX
        # Marked exactly when something of the lede was left out.
        assert item.text.endswith(CUT_MARK) == (shown != lede and bool(shown))
        if shown != lede and len(shown) in sentence_ends(lede):
            assert shown[-1] in ".!?…\"'”’)]»"
        meta_topics = (item.meta or "").split(" · ")[-1] if entry.topics else ""
        assert len([t for t in meta_topics.split(", ") if t]) <= TOPICS_MAX
        titles = [s.title for s in entry.sections if s.text.strip() or s.title.strip()]
        assert [line.title for line in item.lines] == titles
        for line, section in zip(item.lines, [s for s in entry.sections if s.title in titles], strict=True):
            sentence = line.text.removesuffix(CUT_MARK)
            assert _squash(section.text).startswith(_squash(sentence))
            assert len(line.text) <= AREA_SENTENCE_MAX


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(digest=digests())
def test_the_thread_holds_every_section_and_agreement_in_full(digest: Digest) -> None:
    plan = plan_digest(digest, ChannelLayout(), day=WHEN)
    assert len(plan.thread) == len(digest.entries)
    for entry, reply in zip(digest.entries, plan.thread, strict=True):
        [item] = reply.items
        assert item.text == (entry.lede or "")
        texts_in_thread = [p.text for p in item.parts]
        assert all(section.text in texts_in_thread for section in entry.sections)
        assert all(agreement in "\n".join(texts_in_thread) for agreement in entry.agreements)


# -- layouts -------------------------------------------------------------------------------------------


def _digest() -> Digest:
    return Digest(
        title="News digest", entries=[_entry("Lede one. Lede two.", "Area text.", topics=("drones",))]
    )


def test_compact_with_threads_posts_cards_then_a_named_thread() -> None:
    plan = plan_digest(_digest(), ChannelLayout("compact", threads=True), day=WHEN, labels=LABELS)
    assert [r.items[0].lines != [] for r in plan.channel] == [True]
    assert plan.thread_name == "News digest · 1 Dec"
    assert plan.topics == ("drones",)
    assert len(plan.thread) == 1


def test_compact_without_threads_posts_only_the_cards() -> None:
    plan = plan_digest(_digest(), ChannelLayout("compact", threads=False), day=WHEN)
    assert (len(plan.channel), plan.thread, plan.thread_name) == (1, [], None)
    assert "thread" not in plan.channel[0].text


def test_the_full_layout_posts_the_whole_digest_in_the_channel() -> None:
    for threads in (True, False):
        plan = plan_digest(_digest(), ChannelLayout("full", threads=threads), day=WHEN)
        [reply] = plan.channel
        assert (reply.items[0].parts[0].text, plan.thread) == ("Area text.", [])


def test_an_alert_is_a_card_or_the_full_story_and_never_a_thread() -> None:
    compact = plan_alert(_digest(), ChannelLayout("compact", threads=True))
    full = plan_alert(_digest(), ChannelLayout("full", threads=True))
    assert (compact.thread, full.thread) == ([], [])
    assert compact.channel[0].items[0].lines
    assert full.channel[0].items[0].parts


@given(title=st.text(max_size=300), day=st.datetimes(timezones=st.just(UTC)))
def test_a_thread_name_fits_discords_limit_and_names_the_day(title: str, day: datetime) -> None:
    name = thread_name(title, day)
    assert 1 <= len(name) <= THREAD_NAME_MAX
    assert name.endswith(f" · {day.day} {day:%b}")
