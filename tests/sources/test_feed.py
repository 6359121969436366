"""Parsing feed bodies: the formats, the encodings, bad bodies and the entries' plain text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.sources.feed import FeedError, ParsedFeed, html_to_text, parse_feed

FIXTURES = Path(__file__).parent / "fixtures"
URL = "https://feeds.example/feed"


async def _fixture(name: str, **headers: str) -> ParsedFeed:
    return await parse_feed((FIXTURES / name).read_bytes(), url=URL, headers=headers or None)


async def _refused(body: bytes, **headers: str) -> str:
    with pytest.raises(FeedError) as caught:
        await parse_feed(body, url=URL, headers=headers or None)
    return caught.value.reason


# ---- formats and encodings


async def test_an_rss_091_feed_in_latin1_reads_its_accented_titles() -> None:
    parsed = await _fixture("rss091.xml")
    assert parsed.title == "Harbour Gazette"
    assert parsed.link == "https://gazette.example/"
    assert [e.title for e in parsed.entries] == ["Café reopens on the quay", "Ferry timetable changes"]
    assert parsed.entries[0].text == "The café on the quay reopened on Monday after a winter of repairs."
    assert parsed.ttl == timedelta(minutes=90)


async def test_an_rss_10_feed_gives_dates_categories_and_its_syndication_hint() -> None:
    parsed = await _fixture("rss10.rdf")
    comet = parsed.entries[0]
    assert comet.title == "A comet over the ridge"
    assert (comet.published or comet.updated) == datetime(2026, 11, 30, 4, 10, tzinfo=UTC)
    assert comet.tags == ("astronomy",)
    # hourly, twice per period
    assert parsed.ttl == timedelta(minutes=30)


async def test_an_atom_entry_keeps_its_id_author_dates_and_categories() -> None:
    parsed = await _fixture("atom.xml")
    assert parsed.title == "Trade & Tech Desk"
    entry = parsed.entries[0]
    assert entry.key_kind == "id"
    assert entry.author == "Mei Lin"
    assert entry.published == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert entry.updated == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
    assert entry.tags == ("Supply Chains", "drones")


async def test_an_entry_dated_in_the_future_keeps_its_date() -> None:
    parsed = await _fixture("atom.xml")
    assert parsed.entries[1].published == datetime(2031, 5, 4, 12, 0, tzinfo=UTC)


async def test_entry_html_becomes_plain_paragraphs_without_scripts_styles_or_pixels() -> None:
    text = (await _fixture("atom.xml")).entries[0].text
    assert text.startswith("Officials from both sides met in Taipei on Monday for the sixth round of talks.")
    assert "\n\nThe talks covered five areas & more:\n\n" in text
    assert (
        "\n- Supply Chain Security: partners will map chip suppliers together.\n- Drone Technology:" in text
    )
    assert "tracker" not in text
    assert "color" not in text
    assert "pixel.example" not in text
    assert "<" not in text
    assert text.endswith("Both sides called the meeting a success.")


async def test_a_utf16_feed_with_a_bom_reads_non_latin_text() -> None:
    source = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<rss version="2.0"><channel><title>Wetter Zürich</title><link>https://wetter.example/</link>'
        "<item><guid>w-1</guid><title>東京 und Zürich: Schnee</title>"
        "<description>Kälte — überall</description></item></channel></rss>"
    )
    parsed = await parse_feed(source.encode("utf-16"), url=URL, headers={"Content-Type": "application/xml"})
    assert parsed.title == "Wetter Zürich"
    assert parsed.entries[0].title == "東京 und Zürich: Schnee"
    assert parsed.entries[0].text == "Kälte — überall"


async def test_a_json_feed_10_maps_ids_authors_dates_and_tags() -> None:
    parsed = await _fixture("jsonfeed10.json", **{"Content-Type": "application/feed+json"})
    assert parsed.format == "json1"
    assert parsed.title == "Allotment Diary"
    assert parsed.link == "https://allotment.example/"
    leeks, frost = parsed.entries
    assert leeks.key_kind == "id"
    assert leeks.title == "Leeks in, onions out"
    assert leeks.author == "Ada"
    assert leeks.published == datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
    assert leeks.text == "Planted forty leeks today.\n\nThe onions went to the shed to dry."
    assert leeks.tags == ("gardening", "Winter Crops")
    assert frost.title == ""
    assert frost.text == "First frost last night — the dahlias are done."
    assert frost.updated == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert parsed.problems == ("items[2] is not an object; skipped",)


async def test_a_json_feed_is_recognised_by_its_opening_brace_without_a_content_type() -> None:
    parsed = await _fixture("jsonfeed10.json")
    assert len(parsed.entries) == 2


async def test_a_json_feed_numeric_id_is_the_same_key_as_its_string_form() -> None:
    as_number = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": 7, "title": "a"}]}'
    as_string = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "7", "title": "a"}]}'
    first = await parse_feed(as_number, url=URL)
    second = await parse_feed(as_string, url=URL)
    assert first.format == "json1.1"
    assert first.entries[0].key == second.entries[0].key


# ---- entries without ids, dates or links; duplicates


async def test_entries_without_id_date_or_link_still_get_distinct_keys() -> None:
    parsed = await _fixture("no_ids_dates_links.xml")
    kinds = [e.key_kind for e in parsed.entries]
    assert kinds == ["hash", "link", "hash", "hash"]
    assert len({e.key for e in parsed.entries}) == 4
    assert all(e.published is None and e.updated is None for e in parsed.entries)
    assert parsed.entries[2].title == ""
    assert parsed.entries[2].text == "A notice with no title at all."


async def test_duplicate_ids_inside_one_feed_keep_the_first_and_say_how_many_went() -> None:
    parsed = await _fixture("duplicate_ids.xml")
    assert [e.title for e in parsed.entries] == ["First story", "Third story"]
    assert parsed.duplicates_dropped == 2
    assert any("2 of 4 entries repeat an id" in p for p in parsed.problems)


async def test_a_feed_known_to_repeat_ids_keeps_every_story_when_keyed_on_id_and_link() -> None:
    body = (FIXTURES / "duplicate_ids.xml").read_bytes()
    parsed = await parse_feed(body, url=URL, id_scheme="id+link")
    assert [e.title for e in parsed.entries] == ["First story", "Second story", "Third story", "Fourth story"]
    assert parsed.duplicates_dropped == 0
    assert parsed.problems == ()


async def test_a_guid_rewrite_changes_the_key_but_not_the_fingerprint() -> None:
    body = (FIXTURES / "duplicate_ids.xml").read_bytes()
    before = (await parse_feed(body, url=URL)).entries[0]
    after = (await parse_feed(body.replace(b">post<", b">post-v2<", 1), url=URL)).entries[0]
    assert before.key != after.key
    assert before.fingerprint == after.fingerprint


async def test_a_relative_guid_resolves_against_the_url_given_not_the_response_headers() -> None:
    body = b'<rss version="2.0"><channel><title>t</title><item><guid>a1</guid><title>x</title></item></channel></rss>'
    one = await parse_feed(
        body, url="https://old.example/feed", headers={"Content-Location": "https://cdn.example/"}
    )
    two = await parse_feed(body, url="https://old.example/feed")
    assert one.entries[0].key == two.entries[0].key


# ---- bodies that are not feeds


async def test_an_html_page_is_refused_with_a_hint_to_use_the_page_for_discovery() -> None:
    reason = await _refused(
        (FIXTURES / "page.html").read_bytes(), **{"Content-Type": "text/html; charset=utf-8"}
    )
    assert "HTML web page, not a feed" in reason
    assert "look for the feed the page links to" in reason


async def test_a_real_feed_served_as_text_html_is_still_read() -> None:
    parsed = await _fixture("rss10.rdf", **{"Content-Type": "text/html; charset=utf-8"})
    assert len(parsed.entries) == 2


async def test_an_html_page_is_recognised_even_when_served_as_xml() -> None:
    reason = await _refused((FIXTURES / "page.html").read_bytes(), **{"Content-Type": "application/rss+xml"})
    assert "HTML web page" in reason


async def test_an_xhtml_page_with_an_xml_declaration_is_recognised_as_a_web_page() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Blog</title></head><body><p>Hi</p></body></html>'
    )
    assert "HTML web page" in await _refused(body)


async def test_an_rss_feed_mislabelled_as_json_is_still_read() -> None:
    parsed = await _fixture("rss10.rdf", **{"Content-Type": "application/json"})
    assert len(parsed.entries) == 2


async def test_a_json_feed_title_is_plain_text_even_when_it_looks_like_markup() -> None:
    body = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": "Why <div> soup &amp; tables"}]}'
    parsed = await parse_feed(body, url=URL)
    assert parsed.entries[0].title == "Why <div> soup &amp; tables"


async def test_a_feed_with_no_entries_yet_is_a_feed_not_an_error() -> None:
    parsed = await parse_feed(
        b'<rss version="2.0"><channel><title>New blog</title><link>https://new.example/</link></channel></rss>',
        url=URL,
    )
    assert parsed.title == "New blog"
    assert parsed.entries == ()


async def test_reading_undeclared_prefixes_keeps_prefix_like_words_in_the_text() -> None:
    body = (
        b'<?xml version="1.0"?><rss rss:version="2.0"><rss:channel><rss:title>T</rss:title>'
        b"<rss:item><rss:title>Feeds</rss:title><rss:link>https://p.example/1</rss:link>"
        b"<rss:description>Subscribe via rss: it is easy</rss:description></rss:item></rss:channel></rss>"
    )
    parsed = await parse_feed(body, url=URL)
    assert parsed.entries[0].text == "Subscribe via rss: it is easy"
    assert any("undeclared namespace prefix" in p for p in parsed.problems)


@pytest.mark.parametrize("body", [b"", b"  \r\n\t ", b"\xef\xbb\xbf\n"])
async def test_an_empty_body_is_refused_as_empty(body: bytes) -> None:
    assert "empty" in await _refused(body)


async def test_garbage_is_refused_as_unreadable_xml() -> None:
    reason = await _refused(b"\x00\x01 this is not xml at all \xff")
    assert reason.startswith("not a feed: the body is not readable XML")


async def test_well_formed_xml_that_is_no_feed_is_refused() -> None:
    reason = await _refused(b'<?xml version="1.0"?><note><to>Tove</to></note>')
    assert reason == "not a feed: the XML is not RSS, Atom or JSON Feed"


async def test_broken_xml_with_no_readable_entry_is_refused() -> None:
    reason = await _refused(b'<rss version="2.0"><channel><title>Half</title><oops')
    assert reason.startswith("the feed is broken and no entry could be read (line ")


async def test_a_truncated_feed_keeps_the_entries_it_could_read_and_notes_the_problem() -> None:
    parsed = await parse_feed(
        b'<rss version="2.0"><channel><title>Half</title><item><title>Whole entry</title></item>'
        b"<item><title>cut off",
        url=URL,
    )
    assert [e.title for e in parsed.entries][:1] == ["Whole entry"]
    assert parsed.problems[0].startswith("malformed feed, read anyway: ")


async def test_json_that_is_not_a_json_feed_is_refused_naming_the_version() -> None:
    reason = await _refused(b'{"status": "ok", "items": []}', **{"Content-Type": "application/json"})
    assert "no JSON Feed version" in reason
    assert "'None'" in reason


async def test_invalid_json_is_refused_with_its_position() -> None:
    reason = await _refused(
        b'{"version": "https://jsonfeed.org/version/1.1",', **{"Content-Type": "application/json"}
    )
    assert reason.startswith("not a feed: invalid JSON at line 1")


async def test_a_json_array_is_not_a_json_feed() -> None:
    assert "not a JSON Feed object" in await _refused(b"[1, 2]", **{"Content-Type": "application/json"})


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>
"""


async def test_a_billion_laughs_body_is_read_without_expanding_its_entities() -> None:
    parsed = await parse_feed(BILLION_LAUGHS, url=URL)
    assert len(parsed.entries) == 1
    assert len(parsed.title) < 100
    assert len(parsed.entries[0].title) < 100
    assert "declares its own XML entities; they were ignored" in parsed.problems[0]


async def test_a_billion_laughs_body_in_utf16_is_not_expanded_either() -> None:
    body = (
        BILLION_LAUGHS.decode()
        .replace('version="1.0"?>', 'version="1.0" encoding="UTF-16"?>')
        .encode("utf-16")
    )
    parsed = await parse_feed(body, url=URL)
    assert len(parsed.entries[0].title) < 100


async def test_an_external_entity_never_reads_the_file_it_names(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t &x;</title>'
        "<item><title>a &x;</title><description>b &x;</description></item></channel></rss>"
    ).encode()
    parsed = await parse_feed(body, url=URL)
    entry = parsed.entries[0]
    assert "TOP-SECRET-VALUE" not in f"{parsed.title} {entry.title} {entry.text}"


async def test_a_feed_declaring_nbsp_as_an_entity_keeps_its_entries() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>'
        b'<rss version="2.0"><channel><title>Old Blog</title>'
        b"<item><guid>p1</guid><title>Hello&nbsp;world</title></item></channel></rss>"
    )
    parsed = await parse_feed(body, url=URL)
    assert [e.title for e in parsed.entries] == ["Hello world"]


async def test_entity_declarations_in_a_doctype_that_never_ends_are_refused() -> None:
    reason = await _refused(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b"><rss version="2.0"></rss>')
    assert "declares XML entities in a DOCTYPE that never ends" in reason


async def test_an_article_quoting_an_entity_declaration_is_read_as_it_is() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Security notes</title>'
        b"<item><guid>x1</guid><title>XXE explained</title>"
        b'<description><![CDATA[<p>Attackers send</p><pre><!ENTITY xxe SYSTEM "file:///etc/hostname"></pre>]]>'
        b"</description></item></channel></rss>"
    )
    parsed = await parse_feed(body, url=URL)
    assert [e.title for e in parsed.entries] == ["XXE explained"]
    assert parsed.entries[0].text.startswith("Attackers send")
    assert parsed.problems == ()


async def test_a_public_dtd_reference_is_no_entity_declaration() -> None:
    parsed = await _fixture("rss091.xml")
    assert len(parsed.entries) == 2


# ---- HTML to text


def test_html_entities_are_decoded_and_whitespace_normalised() -> None:
    assert html_to_text("<p>Fish &amp;   chips&nbsp;&mdash; <i>daily</i></p>\n\n\n<p> Two </p>") == (
        "Fish & chips — daily\n\nTwo"
    )


def test_double_escaped_html_still_becomes_text() -> None:
    assert html_to_text("&lt;p&gt;Hello &lt;b&gt;there&lt;/b&gt;&lt;/p&gt;") == "Hello there"


def test_a_literal_less_than_sign_in_text_survives() -> None:
    assert html_to_text("<p>3 &lt; 4 and 5 &gt; 2</p>") == "3 < 4 and 5 > 2"


def test_list_items_get_a_bullet_before_their_first_words() -> None:
    markup = (
        "<ul><li><p><a href='/a'>Source</a> download</p></li><li><script>x()</script><b>Docs:</b> PDF</li>"
        "<li></li><li>Plain</li></ul>"
    )
    assert html_to_text(markup) == "- Source download\n\n- Docs: PDF\n- Plain"


def test_an_image_only_entry_has_no_text() -> None:
    assert html_to_text('<img src="https://pixel.example/p.gif" width="1" height="1">') == ""
