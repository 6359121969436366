"""The feed fetcher against a loopback feed server: what it sends, what it makes of each answer."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import ssl
import subprocess
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

import tests.offline
from bot.sources.fetch import (
    FeedFetcher,
    Fetched,
    FetchFailed,
    FetchSettings,
    NotModified,
    newsbot_version,
)
from tests.fakes.feeds import FakeFeeds, sample_rss

MB = 1024 * 1024
FEED = sample_rss("Drones over the harbour", "A second story")

FetcherFactory = Callable[..., AbstractAsyncContextManager[FeedFetcher]]


@pytest.fixture
async def feeds() -> AsyncIterator[FakeFeeds]:
    async with FakeFeeds() as server:
        yield server


@pytest.fixture
def fetcher() -> FetcherFactory:
    def make(**overrides: Any) -> AbstractAsyncContextManager[FeedFetcher]:
        return FeedFetcher(FetchSettings(**overrides))

    return make


async def fetch(url: str, **kwargs: Any) -> Any:
    async with FeedFetcher() as client:
        return await client.fetch(url, **kwargs)


# -- ordinary answers ---------------------------------------------------------------------------------


async def test_a_feed_is_fetched_with_its_body_validators_and_freshness(feeds: FakeFeeds) -> None:
    feeds.serve(
        "/feed.xml",
        FEED,
        etag='"v1"',
        last_modified=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        headers={"Cache-Control": "public, max-age=600"},
    )

    outcome = await fetch(feeds.url("/feed.xml"))

    assert isinstance(outcome, Fetched)
    assert outcome.body == FEED
    assert outcome.status == 200
    assert outcome.url == outcome.final_url == feeds.url("/feed.xml")
    assert outcome.permanent_url is None
    assert outcome.etag == '"v1"'
    assert outcome.last_modified == "Mon, 30 Nov 2026 08:00:00 GMT"
    assert outcome.content_type == "application/rss+xml; charset=utf-8"
    assert outcome.headers["content-type"] == outcome.content_type
    assert outcome.fresh_for == timedelta(minutes=10)


async def test_a_gzipped_feed_arrives_decoded_without_a_content_encoding_to_decode_twice(
    feeds: FakeFeeds,
) -> None:
    feeds.serve("/feed.xml", FEED, gzip=True)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert isinstance(outcome, Fetched)
    assert outcome.body == FEED
    assert "Content-Encoding" not in outcome.headers
    assert feeds.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


async def test_html_served_instead_of_a_feed_is_handed_on_with_its_content_type(feeds: FakeFeeds) -> None:
    feeds.serve("/feed", b"<!doctype html><title>Home</title>", content_type="text/html; charset=utf-8")

    outcome = await fetch(feeds.url("/feed"))

    assert isinstance(outcome, Fetched)
    assert outcome.content_type == "text/html; charset=utf-8"


async def test_the_request_names_newsbot_its_version_and_asks_for_feeds(feeds: FakeFeeds) -> None:
    feeds.serve("/feed.xml", FEED)

    await fetch(feeds.url("/feed.xml"))

    sent = feeds.requests[0].headers
    assert re.fullmatch(r"newsbot/\S+ \(\+https://github\.com/\S+\)", sent["User-Agent"])
    assert f"newsbot/{newsbot_version()} " in sent["User-Agent"]
    assert "application/rss+xml" in sent["Accept"]
    assert "application/atom+xml" in sent["Accept"]
    assert "application/feed+json" in sent["Accept"]


# -- conditional GET ---------------------------------------------------------------------------------


async def test_an_unchanged_feed_answers_304_to_its_etag(feeds: FakeFeeds) -> None:
    feeds.serve("/feed.xml", FEED, etag='"v1"')
    async with FeedFetcher() as client:
        first = await client.fetch(feeds.url("/feed.xml"))
        assert isinstance(first, Fetched)
        second = await client.fetch(feeds.url("/feed.xml"), etag=first.etag)

    assert second == NotModified(fresh_for=None, etag='"v1"', last_modified=None)
    assert feeds.requests[1].headers["If-None-Match"] == '"v1"'


async def test_a_changed_etag_brings_the_new_body(feeds: FakeFeeds) -> None:
    route = feeds.serve("/feed.xml", FEED, etag='"v1"')
    route.body, route.etag = sample_rss("Something new"), '"v2"'

    outcome = await fetch(feeds.url("/feed.xml"), etag='"v1"')

    assert isinstance(outcome, Fetched)
    assert outcome.etag == '"v2"'
    assert b"Something new" in outcome.body


async def test_an_unchanged_feed_answers_304_to_its_last_modified_date(feeds: FakeFeeds) -> None:
    changed = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    feeds.serve("/feed.xml", FEED, last_modified=changed)
    async with FeedFetcher() as client:
        first = await client.fetch(feeds.url("/feed.xml"))
        assert isinstance(first, Fetched)
        second = await client.fetch(feeds.url("/feed.xml"), last_modified=first.last_modified)

    assert isinstance(second, NotModified)
    assert second.last_modified == format_datetime(changed, usegmt=True)
    assert feeds.requests[1].headers["If-Modified-Since"] == format_datetime(changed, usegmt=True)
    assert "If-None-Match" not in feeds.requests[1].headers


@pytest.mark.parametrize("empty", ["", "   "])
async def test_no_empty_if_none_match_or_if_modified_since_is_ever_sent(feeds: FakeFeeds, empty: str) -> None:
    feeds.serve("/feed.xml", FEED, etag="")

    outcome = await fetch(feeds.url("/feed.xml"), etag=empty, last_modified=empty)

    assert isinstance(outcome, Fetched), "an empty If-None-Match may earn a 304 from some servers"
    assert "If-None-Match" not in feeds.requests[0].headers
    assert "If-Modified-Since" not in feeds.requests[0].headers
    assert outcome.etag is None


async def test_a_stored_validator_that_would_split_the_headers_is_not_sent(feeds: FakeFeeds) -> None:
    feeds.serve("/feed.xml", FEED, etag='"v1"')

    outcome = await fetch(feeds.url("/feed.xml"), etag='"v1"\r\nX-Injected: 1')

    assert isinstance(outcome, Fetched)
    assert "If-None-Match" not in feeds.requests[0].headers
    assert "X-Injected" not in feeds.requests[0].headers


# -- redirects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("statuses", [(301,), (308,), (301, 308, 301)])
async def test_a_feed_moved_only_by_permanent_redirects_reports_its_new_url(
    feeds: FakeFeeds, statuses: tuple[int, ...]
) -> None:
    feeds.serve("/new.xml", FEED)
    for hop, status in enumerate(statuses):
        target = "/new.xml" if hop == len(statuses) - 1 else f"/hop{hop + 1}"
        feeds.redirect(f"/hop{hop}", target, status)

    outcome = await fetch(feeds.url("/hop0"))

    assert isinstance(outcome, Fetched)
    assert outcome.permanent_url == outcome.final_url == feeds.url("/new.xml")
    assert outcome.url == feeds.url("/hop0")
    assert [r.path for r in feeds.requests][-1] == "/new.xml"


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_a_temporary_redirect_keeps_the_stored_url(feeds: FakeFeeds, status: int) -> None:
    feeds.serve("/today.xml", FEED)
    feeds.redirect("/feed.xml", "/today.xml", status)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert isinstance(outcome, Fetched)
    assert outcome.final_url == feeds.url("/today.xml")
    assert outcome.permanent_url is None


@pytest.mark.parametrize("chain", [(301, 302), (302, 301), (308, 307, 301)])
async def test_a_chain_mixing_permanent_and_temporary_redirects_keeps_the_stored_url(
    feeds: FakeFeeds, chain: tuple[int, ...]
) -> None:
    feeds.serve("/end.xml", FEED)
    for hop, status in enumerate(chain):
        feeds.redirect(f"/r{hop}", "/end.xml" if hop == len(chain) - 1 else f"/r{hop + 1}", status)

    outcome = await fetch(feeds.url("/r0"))

    assert isinstance(outcome, Fetched)
    assert outcome.final_url == feeds.url("/end.xml")
    assert outcome.permanent_url is None


async def test_a_moved_feed_that_is_unchanged_still_reports_its_new_url(feeds: FakeFeeds) -> None:
    feeds.serve("/new.xml", FEED, etag='"v1"')
    feeds.redirect("/old.xml", feeds.url("/new.xml"), 301)

    outcome = await fetch(feeds.url("/old.xml"), etag='"v1"')

    assert outcome == NotModified(
        fresh_for=None, etag='"v1"', last_modified=None, permanent_url=feeds.url("/new.xml")
    )


async def test_a_redirect_loop_is_reported_as_a_loop_after_one_round(feeds: FakeFeeds) -> None:
    feeds.redirect("/a", "/b", 302)
    feeds.redirect("/b", "/a", 301)

    outcome = await fetch(feeds.url("/a"))

    assert isinstance(outcome, FetchFailed)
    assert outcome.reason.startswith("redirect loop")
    assert [r.path for r in feeds.requests] == ["/a", "/b"]


async def test_a_chain_longer_than_the_limit_is_refused(feeds: FakeFeeds, fetcher: FetcherFactory) -> None:
    for hop in range(5):
        feeds.redirect(f"/r{hop}", f"/r{hop + 1}", 302)
    feeds.serve("/r5", FEED)

    async with fetcher(max_redirects=3) as client:
        refused = await client.fetch(feeds.url("/r0"))
    async with fetcher(max_redirects=5) as client:
        allowed = await client.fetch(feeds.url("/r0"))

    assert refused == FetchFailed("too many redirects (more than 3)", 302)
    assert isinstance(allowed, Fetched)


async def test_a_redirect_without_a_location_is_a_clear_failure(feeds: FakeFeeds) -> None:
    feeds.serve("/feed.xml", b"", status=301, content_type=None)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed("HTTP 301 redirect without a Location header", 301)


# -- HTTP errors -------------------------------------------------------------------------------------


async def test_a_410_says_the_feed_is_gone(feeds: FakeFeeds) -> None:
    feeds.fail("/feed.xml", 410)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed("HTTP 410 Gone: the feed was removed", 410, gone=True)


@pytest.mark.parametrize("status", [429, 503])
async def test_a_busy_server_is_left_alone_for_the_seconds_its_retry_after_names(
    feeds: FakeFeeds, status: int
) -> None:
    feeds.fail("/feed.xml", status, retry_after="120")

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed(f"HTTP {status}: retry after 120 s", status, timedelta(seconds=120))


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_date_is_measured_from_the_servers_own_clock(
    feeds: FakeFeeds, status: int
) -> None:
    server_now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # far from our clock: skew must not matter
    route = feeds.fail(
        "/feed.xml", status, retry_after=format_datetime(server_now + timedelta(minutes=5), usegmt=True)
    )
    route.headers["Date"] = format_datetime(server_now, usegmt=True)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert isinstance(outcome, FetchFailed)
    assert outcome.retry_after == timedelta(minutes=5)
    assert outcome.reason == f"HTTP {status}: retry after 300 s"


async def test_a_429_without_retry_after_is_a_plain_failure(feeds: FakeFeeds) -> None:
    feeds.fail("/feed.xml", 429)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed("HTTP 429 Too Many Requests", 429)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error"), (403, "HTTP 403 Forbidden")],
)
async def test_client_and_server_errors_are_named_by_their_status(
    feeds: FakeFeeds, status: int, reason: str
) -> None:
    feeds.fail("/feed.xml", status, body=b"<html>error page</html>")

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed(reason, status)


@pytest.mark.parametrize("body", [b"", b" \n\t "])
async def test_an_empty_body_is_a_failure_not_an_empty_feed(feeds: FakeFeeds, body: bytes) -> None:
    feeds.serve("/feed.xml", body)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed("empty body", 200)


# -- network faults -----------------------------------------------------------------------------------


async def test_a_closed_port_is_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now, and nothing listens once the socket closes

    outcome = await fetch(f"http://127.0.0.1:{port}/feed.xml")

    assert outcome == FetchFailed("connection refused")


async def test_a_dns_failure_names_the_host_and_never_asks_a_real_resolver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guarded, resolved = [], []
    guard, real = socket.getaddrinfo, tests.offline._real_getaddrinfo

    def through_guard(host: Any, *args: Any, **kwargs: Any) -> Any:
        guarded.append(host)
        return guard(host, *args, **kwargs)

    def really(host: Any, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", through_guard)
    monkeypatch.setattr(tests.offline, "_real_getaddrinfo", really)

    outcome = await fetch("http://feeds.example.invalid/rss")

    assert outcome == FetchFailed("DNS lookup failed for feeds.example.invalid")
    assert guarded == ["feeds.example.invalid"], "the fetcher must resolve through socket.getaddrinfo"
    assert resolved == [], "the offline guard must refuse the name before any resolver sees it"


async def test_a_url_that_is_not_http_is_refused_without_a_request() -> None:
    assert await fetch("ftp://example.org/feed.xml") == FetchFailed(
        "not an http(s) URL: ftp://example.org/feed.xml"
    )
    assert await fetch("feed.xml") == FetchFailed("not an http(s) URL: feed.xml")


async def test_a_slow_drip_is_cut_off_at_the_total_timeout(feeds: FakeFeeds, fetcher: FetcherFactory) -> None:
    feeds.drip("/feed.xml", FEED, every=0.02)  # ~5 s for the whole body, a byte always on its way

    started = asyncio.get_running_loop().time()
    async with fetcher(total_timeout_seconds=0.5, read_timeout_seconds=5) as client:
        outcome = await client.fetch(feeds.url("/feed.xml"))
    took = asyncio.get_running_loop().time() - started

    assert outcome == FetchFailed("timed out after 0.5 s")
    assert took < 2


async def test_a_server_that_goes_silent_is_cut_off_at_the_read_timeout(
    feeds: FakeFeeds, fetcher: FetcherFactory
) -> None:
    feeds.serve("/feed.xml", FEED, stall_for=1)

    async with fetcher(total_timeout_seconds=10, read_timeout_seconds=0.2) as client:
        outcome = await client.fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed("the server sent nothing for 0.2 s")


# -- size caps ---------------------------------------------------------------------------------------


async def _peak_while(coro: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = await coro
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_a_gzip_bomb_stops_inflating_at_the_cap(feeds: FakeFeeds, fetcher: FetcherFactory) -> None:
    feeds.gzip_bomb("/feed.xml", 64 * MB)  # about 64 KB on the wire
    async with fetcher(max_body_bytes=1 * MB) as client:
        await client.fetch(feeds.url("/missing"))  # warm the session up outside the measurement
        outcome, peak = await _peak_while(client.fetch(feeds.url("/feed.xml")))

    assert outcome == FetchFailed("body larger than 1 MB", 200)
    assert peak < 8 * MB, f"inflating the bomb took {peak / MB:.1f} MB"


async def test_a_50_mb_feed_with_a_length_is_refused_before_downloading(feeds: FakeFeeds) -> None:
    feeds.huge("/feed.xml", 50 * MB)

    async with FeedFetcher() as client:
        outcome, peak = await _peak_while(client.fetch(feeds.url("/feed.xml")))

    assert outcome == FetchFailed("body larger than 10 MB", 200)
    assert peak < 5 * MB


async def test_a_50_mb_feed_without_a_length_is_cut_at_the_cap_without_holding_50_mb(
    feeds: FakeFeeds,
) -> None:
    feeds.huge("/feed.xml", 50 * MB, chunked=True)

    async with FeedFetcher() as client:
        outcome, peak = await _peak_while(client.fetch(feeds.url("/feed.xml")))

    assert outcome == FetchFailed("body larger than 10 MB", 200)
    assert peak < 25 * MB, f"held {peak / MB:.1f} MB"


async def test_a_body_exactly_at_the_cap_is_accepted_and_one_byte_more_is_not(
    feeds: FakeFeeds, fetcher: FetcherFactory
) -> None:
    feeds.huge("/at-cap.xml", 256 * 1024, chunked=True)
    feeds.huge("/over-cap.xml", 256 * 1024 + 1, chunked=True)

    async with fetcher(max_body_bytes=256 * 1024) as client:
        at_cap = await client.fetch(feeds.url("/at-cap.xml"))
        over_cap = await client.fetch(feeds.url("/over-cap.xml"))

    assert isinstance(at_cap, Fetched)
    assert len(at_cap.body) == 256 * 1024
    assert over_cap == FetchFailed("body larger than 256 KB", 200)


# -- politeness --------------------------------------------------------------------------------------


async def test_no_more_than_two_connections_go_to_one_host_at_once(feeds: FakeFeeds) -> None:
    for n in range(8):
        feeds.serve(f"/feed{n}.xml", FEED, delay=0.15)

    async with FeedFetcher() as client:
        outcomes = await asyncio.gather(*(client.fetch(feeds.url(f"/feed{n}.xml")) for n in range(8)))

    assert all(isinstance(o, Fetched) for o in outcomes)
    assert feeds.max_in_flight == 2


async def test_queueing_for_a_busy_host_does_not_count_against_the_timeout(
    feeds: FakeFeeds, fetcher: FetcherFactory
) -> None:
    for n in range(6):
        feeds.serve(f"/feed{n}.xml", FEED, delay=0.4)

    # Three rounds of 0.4 s through two connections (1.2 s): each fetch alone takes 0.4 s, within 1 s.
    async with fetcher(total_timeout_seconds=1.0) as client:
        outcomes = await asyncio.gather(*(client.fetch(feeds.url(f"/feed{n}.xml")) for n in range(6)))

    assert all(isinstance(o, Fetched) for o in outcomes), outcomes


async def test_fetching_before_open_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="before open"):
        await FeedFetcher().fetch("http://127.0.0.1:9/feed.xml")


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run([openssl, *request, *files], check=True, capture_output=True)  # noqa: S603 - fixed arguments
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_certificate_nobody_vouches_for_is_a_tls_error(self_signed: ssl.SSLContext) -> None:
    async with FakeFeeds(ssl_context=self_signed) as server:
        server.serve("/feed.xml", FEED)
        outcome = await fetch(server.url("/feed.xml"))

    assert isinstance(outcome, FetchFailed)
    assert outcome.reason == "TLS error: certificate of 127.0.0.1 not accepted (self-signed certificate)"
    assert server.requests == []


async def test_plain_http_on_an_https_url_is_a_tls_error(feeds: FakeFeeds) -> None:
    feeds.serve("/feed.xml", FEED)

    outcome = await fetch(feeds.url("/feed.xml").replace("http://", "https://"))

    assert isinstance(outcome, FetchFailed)
    assert outcome.reason.startswith("TLS error: ")


async def test_a_redirect_to_a_non_http_url_is_refused(feeds: FakeFeeds) -> None:
    feeds.redirect("/feed.xml", "ftp://example.org/feed.xml", 301)

    outcome = await fetch(feeds.url("/feed.xml"))

    assert outcome == FetchFailed("redirected to a non-http(s) URL: ftp://example.org/feed.xml", 301)
