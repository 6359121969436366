"""A page URL pasted by a user leads to its feeds: announced links, resolved, best first, once each."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.discover import DiscoveredFeed, find_feed_links

PAGE = "https://blog.example.com/2026/11/a-post/"


def _page(head: str, body: str = "<p>Hello</p>") -> str:
    return f"<!DOCTYPE html><html><head><title>A post</title>{head}</head><body>{body}</body></html>"


def test_rss_atom_and_json_feed_links_are_found_with_atom_first() -> None:
    html = _page(
        '<link rel="alternate" type="application/rss+xml" title="Posts (RSS)" href="/feed/">'
        '<link rel="alternate" type="application/feed+json" title="Posts (JSON)" href="/feed.json">'
        '<link rel="alternate" type="application/atom+xml" title="Posts (Atom)" href="/atom.xml">'
    )
    assert find_feed_links(html, PAGE) == [
        DiscoveredFeed("https://blog.example.com/atom.xml", "Posts (Atom)", "atom", "application/atom+xml"),
        DiscoveredFeed("https://blog.example.com/feed/", "Posts (RSS)", "rss", "application/rss+xml"),
        DiscoveredFeed("https://blog.example.com/feed.json", "Posts (JSON)", "json", "application/feed+json"),
    ]


def test_feeds_of_one_kind_keep_the_page_order_so_the_main_feed_stays_first() -> None:
    html = _page(
        '<link rel="alternate" type="application/rss+xml" href="/feed/">'
        '<link rel="alternate" type="application/rss+xml" href="/comments/feed/">'
        '<link rel="alternate" type="application/rss+xml" href="/category/tech/feed/">'
    )
    assert [f.url for f in find_feed_links(html, PAGE)] == [
        "https://blog.example.com/feed/",
        "https://blog.example.com/comments/feed/",
        "https://blog.example.com/category/tech/feed/",
    ]


def test_relative_links_resolve_against_the_page_url_and_against_base_href() -> None:
    relative = _page('<link rel="alternate" type="application/rss+xml" href="feed.xml">')
    assert [f.url for f in find_feed_links(relative, PAGE)] == [
        "https://blog.example.com/2026/11/a-post/feed.xml"
    ]
    based = _page(
        '<base href="https://cdn.example.net/site/">'
        '<link rel="alternate" type="application/atom+xml" href="atom.xml">'
    )
    assert [f.url for f in find_feed_links(based, PAGE)] == ["https://cdn.example.net/site/atom.xml"]
    protocol_relative = _page(
        '<link rel="alternate" type="application/rss+xml" href="//feeds.example.org/x">'
    )
    assert [f.url for f in find_feed_links(protocol_relative, PAGE)] == ["https://feeds.example.org/x"]


def test_the_same_feed_announced_twice_is_listed_once_under_its_best_kind() -> None:
    html = _page(
        '<link rel="alternate" type="application/rss+xml" href="/feed">'
        '<link rel="alternate" type="application/atom+xml" href="https://blog.example.com/feed#atom">'
        '<link rel="alternate" type="application/rss+xml" href="https://blog.example.com/feed">'
    )
    assert [(f.url, f.kind) for f in find_feed_links(html, PAGE)] == [
        ("https://blog.example.com/feed", "atom")
    ]


def test_links_that_are_not_feeds_are_ignored() -> None:
    html = _page(
        '<link rel="stylesheet" type="text/css" href="/style.css">'
        '<link rel="alternate" hreflang="fr" href="/fr/">'
        '<link rel="alternate" type="application/json" href="/wp-json/wp/v2/posts/42">'
        '<link rel="alternate" type="application/json+oembed" href="/oembed?url=x">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
        '<link rel="alternate" type="application/rss+xml" href="">'
        '<link rel="preload" type="application/rss+xml" href="/not-alternate.xml">',
        body='<a href="/feed/">RSS</a>',
    )
    assert find_feed_links(html, PAGE) == []


def test_a_json_link_that_names_a_feed_counts_and_rel_tokens_and_types_are_read_loosely() -> None:
    html = _page(
        '<link rel="Alternate Home" type="Application/RSS+XML; charset=utf-8" href="/rss">'
        '<link rel="alternate" type="application/json" href="/feed.json">'
    )
    assert [(f.url, f.kind) for f in find_feed_links(html, PAGE)] == [
        ("https://blog.example.com/rss", "rss"),
        ("https://blog.example.com/feed.json", "json"),
    ]


def test_bytes_with_a_declared_charset_and_broken_markup_still_yield_feeds() -> None:
    html = (
        b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title>'
        b'<link rel=alternate type=application/atom+xml title="Caf\xe9 news" href=/atom>'
        b"<body><p>unclosed <b>tags"
    )
    [feed] = find_feed_links(html, PAGE)
    assert feed.url == "https://blog.example.com/atom"
    assert feed.title == "Café news"


def test_an_empty_or_garbage_page_announces_no_feeds() -> None:
    assert find_feed_links(b"", PAGE) == []
    assert find_feed_links("   ", PAGE) == []
    assert find_feed_links(b"\x00\xff\x00\xfe", PAGE) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.binary(max_size=200))
def test_any_input_gives_a_list_of_absolute_http_urls(text: str, raw: bytes) -> None:
    for page in (text, raw, _page(text)):
        for feed in find_feed_links(page, PAGE):
            assert feed.url.startswith(("http://", "https://"))
