"""The preview and status pages over HTTP: what they show, what they escape, who may read and retry."""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import aiohttp
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.api.server import ApiServer, IngestApi
from bot.app import app_preview_deps
from bot.core.layout import ChannelLayout, plan_digest
from bot.core.ports import ChannelKey
from bot.core.summary import Summary
from bot.preview import preview_routes
from bot.preview.markup import discord_markdown, slack_mrkdwn
from bot.preview.model import Conversation, FeedView, PostedMessage, StatusView
from bot.preview.serve import serve_preview
from bot.preview.sources import discord_bodies, slack_bodies
from bot.preview.views import BLOCK_KIT_BUILDER, draw
from bot.preview.web import _page
from bot.settings import ApiSettings
from tests.preview.conftest import ALERTED, DEAD_REASON, NOW, TOKEN, Served, serve

HEADLINE = "Taiwan and US Deepen Strategic Tech Partnership in High-Level Dialogue"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REMOTE = {"X-Forwarded-For": "203.0.113.9"}  # what a client behind a reverse proxy looks like
HOSTILE = Summary.model_validate(
    {
        "id": "hostile",
        "headline": "<script>alert('headline')</script> {{ 7*7 }}",
        "lede": "A lede with <img src=x onerror=alert(1)> and </textarea><b>bold?</b>.",
        "published": "2026-11-30T10:00:00+00:00",
        "source": {"name": "</textarea><script>alert(2)</script>", "url": "https://example.com/x?a=1&b=<2>"},
        "topics": [
            {
                "title": "{% raw %}{{ config }}",
                "text": "Drones <svg onload=alert(3)> {{ 6*7 }}",
                "tags": ["drones"],
            }
        ],
    }
)


async def get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers, allow_redirects=False) as r:
        return r.status, await r.text()


async def post(url: str, *, data: dict[str, str] | None = None, **headers: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=data or {}, headers=headers, allow_redirects=False) as r,
    ):
        return r.status, await r.text(), r.headers.get("Location", "")


def bodies_in(page: str) -> list[object]:
    """Return the request bodies the page shows under "Request body", in order."""
    return [json.loads(html.unescape(raw)) for raw in re.findall(r"<pre>(.*?)</pre>", page, re.DOTALL)]


async def test_the_preview_shows_the_next_digest_on_discord_and_on_slack(served: Served) -> None:
    status, page = await get(served.base + "/preview")
    assert status == 200
    assert page.count(HEADLINE) >= 2  # the Discord embed title and the Slack link label
    assert 'class="pane discord"' in page
    assert 'class="pane slack"' in page
    assert "border-left-color: #5865f2" in page


async def test_the_preview_shows_exactly_the_bodies_the_senders_post(served: Served) -> None:
    _, page = await get(served.base + "/preview")
    app = served.app
    plan = plan_digest(
        await app.service.digest(), ChannelLayout(), day=app.service.clock(), labels=app.taxonomy.labels()
    )
    discord, slack = plan.render(discord_bodies), plan.render(slack_bodies)
    assert [len(discord.thread), len(slack.thread)] == [1, 1]  # the one story in full under the brief
    assert bodies_in(page) == [*discord.channel, *discord.thread, *slack.channel, *slack.thread]
    assert f"Thread · {discord.thread_name}" in page


async def test_the_preview_shows_the_digest_under_each_layout_and_refuses_unknown_ones(
    served: Served,
) -> None:
    _, compact = await get(served.base + "/preview")
    assert "Thread · News digest" in compact
    assert 'href="/preview?layout=full&amp;threads=on"' in compact
    status, full = await get(served.base + "/preview?layout=full&threads=on")
    assert status == 200
    assert "Thread · " not in full  # the whole text is in the channel
    assert "China routinely objects" in full
    _, no_thread = await get(served.base + "/preview?layout=compact&threads=off")
    assert "Thread · " not in no_thread
    assert "China routinely objects" not in no_thread
    status, bad = await get(served.base + "/preview?layout=wide")
    assert status == 400
    assert "layout must be compact or full" in bad


async def test_a_topic_answer_is_previewed_with_its_buttons(served: Served) -> None:
    status, page = await get(served.base + "/preview?topic=drones")
    assert status == 200
    assert "/topic drones" in page
    assert "Drone Technology" in page
    assert "Post to channel" in page  # the Slack answer's share button, as the handler sends it
    assert "Only visible to you" in page


async def test_the_slack_blocks_open_in_block_kit_builder(served: Served) -> None:
    _, page = await get(served.base + "/preview")
    links = re.findall(r'href="(https://app\.slack\.com/block-kit-builder/#[^"]+)"', page)
    assert links
    payload = json.loads(unquote(html.unescape(links[0])[len(BLOCK_KIT_BUILDER) :]))
    slack = [b for b in bodies_in(page) if isinstance(b, dict) and "blocks" in b]
    assert payload == {"blocks": slack[0]["blocks"]}


async def test_every_value_from_a_summary_is_escaped(tmp_path: Path) -> None:
    async for served in serve(tmp_path, extra=[HOSTILE]):
        for path in ("/preview", "/preview?topic=drones", "/preview?topic=%3Cscript%3Ealert(9)%3C/script%3E"):
            status, page = await get(served.base + path)
            assert status == 200
            for raw in ("<script", "<img", "<svg", "</textarea>", "<b>bold", "onerror=alert(1)>"):
                assert raw not in page, (path, raw)
        _, page = await get(served.base + "/preview")
        assert "{{ 7" in page
        assert "49" not in page
        assert "&lt;script&gt;alert(&#39;headline&#39;)&lt;/script&gt;" in page


async def test_reading_from_another_machine_needs_the_token(served: Served) -> None:
    for path in ("/preview", "/status"):
        status, page = await get(served.base + path, **REMOTE)
        assert status == 401
        assert "NEWSBOT_API__TOKEN" in page
        assert HEADLINE not in page
        assert DEAD_REASON not in page
        status, page = await get(served.base + path, **REMOTE, **AUTH)
        assert status == 200
        status, _ = await get(served.base + path, **REMOTE, Authorization="Bearer wrong")
        assert status == 401


async def test_the_status_page_lists_channels_schedules_and_the_dead_delivery(served: Served) -> None:
    status, page = await get(served.base + "/status")
    assert status == 200
    assert "2026-12-02 08:00 CET" in page  # 07:00 UTC in the channel's own zone, Europe/Berlin
    assert html.escape(DEAD_REASON) in page
    assert "paused: " + html.escape(DEAD_REASON) in page  # the subscription it paused, with the reason
    assert f'formaction="/status/deliveries/{served.dead_id}/retry"' in page
    assert "Feeds" not in page  # no feeds yet: the section is hidden


async def test_the_status_page_shows_each_channels_layout_and_threads(served: Served) -> None:
    _, before = await get(served.base + "/status")
    assert "layout: compact" in before  # every listed channel, with the defaults until changed
    assert "threads: off" not in before
    await served.app.layouts.set_layout(
        ChannelKey("discord", "g1", "alerts-only"), layout="full", threads=False, user="u", now=NOW
    )
    _, after = await get(served.base + "/status")
    assert "alerts-only" in after
    assert "layout: full" in after
    assert "threads: off" in after


async def test_the_status_page_shows_each_followed_feed_and_why_one_is_paused(served: Served) -> None:
    feeds = served.app.feeds
    await feeds.add("wire", "https://wire.example/feed.xml", added_url="https://wire.example/", now=NOW)
    await feeds.add("gone", "https://gone.example/feed.xml", added_url="https://gone.example/", now=NOW)
    await feeds.pause("gone", "HTTP 410 Gone: the feed was removed", NOW)
    status, page = await get(served.base + "/status")
    assert status == 200
    assert "Feeds" in page
    assert "https://wire.example/feed.xml" in page
    assert "HTTP 410 Gone: the feed was removed" in page


async def test_a_retry_without_the_token_is_refused_even_from_loopback(served: Served) -> None:
    url = f"{served.base}/status/deliveries/{served.dead_id}/retry"
    for data, headers in (({}, {}), ({"token": "wrong"}, {}), ({}, {"Authorization": "Bearer wrong"})):
        status, page, _ = await post(url, data=data, **headers)
        assert status == 401
        assert "Not allowed" in page
    found = await served.app.channels.subscriptions(ALERTED)
    assert found[0].paused_reason is not None
    _, page = await get(served.base + "/status")
    assert 'class="badge st-dead">dead' in page


async def test_a_retry_with_the_token_requeues_the_delivery_and_lifts_its_pause(served: Served) -> None:
    url = f"{served.base}/status/deliveries/{served.dead_id}/retry"
    status, _, location = await post(url, data={"token": TOKEN})
    assert status == 303
    assert location == f"/status?retried={served.dead_id}"
    _, page = await get(served.base + location)
    assert f"Delivery {served.dead_id} is queued again" in page
    assert 'class="badge st-pending">pending' in page
    found = await served.app.channels.subscriptions(ALERTED)
    assert found[0].paused_reason is None
    status, page, _ = await post(url, **AUTH)  # the header works too; the row is no longer dead
    assert status == 409
    assert "neither dead nor paused; only those can be retried" in page


async def test_without_a_configured_token_nobody_can_retry(tmp_path: Path) -> None:
    async for served in serve(tmp_path, token=None):
        _, page = await get(served.base + "/status")
        assert "Set NEWSBOT_API__TOKEN to retry" in page
        assert "formaction=" not in page
        status, _, _ = await post(
            f"{served.base}/status/deliveries/{served.dead_id}/retry", data={"token": ""}
        )
        assert status == 401
        status, _ = await get(served.base + "/status", **REMOTE)
        assert status == 401


def test_a_feeds_section_appears_when_feeds_are_passed() -> None:
    feed = FeedView("Example feed", "https://example.com/feed.xml", "disabled", NOW, "410 Gone")
    empty = _page("status.html", view=StatusView([], []), retried=None, token_configured=True, now=NOW)
    full = _page(
        "status.html", view=StatusView([], [], feeds=[feed]), retried=None, token_configured=True, now=NOW
    )
    assert "<h2>Feeds</h2>" not in (empty.text or "")
    assert "<h2>Feeds</h2>" in (full.text or "")
    assert "410 Gone" in (full.text or "")


async def test_unknown_deliveries_and_pages_are_not_found(served: Served) -> None:
    status, page, _ = await post(f"{served.base}/status/deliveries/999/retry", **AUTH)
    assert status == 404
    assert "There is no delivery 999" in page
    status, _, _ = await post(f"{served.base}/status/deliveries/abc/retry", **AUTH)
    assert status == 404
    status, _ = await get(f"{served.base}/preview/nothing-here")
    assert status == 404
    status, page = await get(f"{served.base}/preview?topic=drones&page=zero")
    assert status == 400
    assert "page must be a whole number" in page


async def test_the_pages_run_no_script_and_load_nothing_from_elsewhere(served: Served) -> None:
    async with aiohttp.ClientSession() as http, http.get(served.base + "/preview") as r:
        policy = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy
    async with aiohttp.ClientSession() as http, http.get(served.base + "/preview/preview.css") as r:
        assert r.status == 200
        assert r.content_type == "text/css"


async def test_the_api_server_of_newsbot_run_serves_the_pages(served: Served) -> None:
    api = ApiSettings(token=SecretStr(TOKEN))
    routes = preview_routes(app_preview_deps(served.app))
    server = ApiServer(IngestApi(served.app.service, api, routes=routes), "127.0.0.1", 0)
    await server.start()
    try:
        status, page = await get(f"http://127.0.0.1:{server.port}/preview")
        assert status == 200
        assert HEADLINE in page
        status, _ = await get(f"http://127.0.0.1:{server.port}/healthz")
        assert status == 200
    finally:
        await server.stop()


async def test_newsbot_preview_serves_until_stopped(served: Served) -> None:
    stop = asyncio.Event()
    ready: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(
        serve_preview(app_preview_deps(served.app), "127.0.0.1", 0, stop=stop, on_ready=ready.put_nowait)
    )
    url = await asyncio.wait_for(ready.get(), 10)
    status, page = await get(url)
    assert status == 200
    assert HEADLINE in page
    status, _ = await get(url.removesuffix("/preview") + "/")
    assert status == 302
    stop.set()
    await asyncio.wait_for(task, 10)


def test_a_thread_is_drawn_under_the_message_that_started_it() -> None:
    parent = {"embeds": [{"title": "News digest", "color": 0x5865F2}]}
    reply = {"embeds": [{"title": "Full story", "description": "Every section.", "color": 0x5865F2}]}
    conv = Conversation(
        "discord", [PostedMessage(parent), PostedMessage(reply, "thread")], thread_name="News digest · 1 Dec"
    )
    slack = Conversation(
        "slack",
        [
            PostedMessage({"text": "brief", "blocks": []}),
            PostedMessage({"text": "detail", "blocks": []}, "thread"),
        ],
    )
    drawn = draw(conv)
    assert [len(drawn.channel), len(drawn.thread)] == [1, 1]
    page = _page("preview.html", query="", page=1, discord=drawn, slack=draw(slack), now=NOW).text or ""
    assert "🧵 News digest · 1 Dec" in page
    assert page.index("News digest</div>") < page.index("Full story")
    assert "1 reply" in page


def test_slack_mrkdwn_reads_links_emphasis_and_entities() -> None:
    assert slack_mrkdwn("*<https://x.test/a?b=1&amp;c=2|A &amp; B>*") == (
        '<strong><a href="https://x.test/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">'
        "A &amp; B</a></strong>"
    )
    assert slack_mrkdwn("_it_ ~no~ `x<y` &lt;b&gt;") == "<em>it</em> <s>no</s> <code>x&lt;y</code> &lt;b&gt;"
    assert slack_mrkdwn("<javascript:alert(1)|click>") == "&lt;javascript:alert(1)|click&gt;"
    assert (
        slack_mrkdwn("<!here> and <@U1>")
        == '<span class="mention">@here</span> and <span class="mention">@U1</span>'
    )


def test_discord_markdown_reads_escapes_and_bare_links() -> None:
    out = discord_markdown("a \\*b\\* \\- see https://example.com/x_y.")
    assert "a *b* - see" in out
    assert 'href="https://example.com/x_y"' in out
    assert "<a" not in discord_markdown("[x](javascript:alert(1))")


ALLOWED = re.compile(r"</?(?:strong|em|s|code|a|br|blockquote|span|p|ul|ol|li)\b")


@given(st.text(alphabet=st.sampled_from(list("<>&*_~`|!@#/\\:ahtps x=\"'\n[]()")), max_size=80))
def test_no_text_can_make_either_reader_emit_a_tag_it_does_not_write(text: str) -> None:
    for rendered in (slack_mrkdwn(text), discord_markdown(text)):
        for tag in re.findall(r"<[^>]*>?", str(rendered)):
            assert ALLOWED.match(tag), (text, tag)
        assert "javascript:" not in re.sub(r">[^<]*<", "><", str(rendered))


SCALAR = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
KEYS = st.sampled_from(
    ["content", "embeds", "components", "blocks", "text", "type", "color", "fields", "title"]
)
PART = st.dictionaries(
    KEYS, SCALAR | st.lists(st.dictionaries(KEYS, SCALAR, max_size=3), max_size=2), max_size=4
)
BODY = st.dictionaries(KEYS, SCALAR | st.lists(PART, max_size=2), max_size=4)


@given(discord=BODY, slack=BODY)
def test_any_body_a_renderer_might_produce_is_drawn_without_failing(
    discord: dict[str, object], slack: dict[str, object]
) -> None:
    drawn = [
        draw(Conversation("discord", [PostedMessage(discord)])),
        draw(Conversation("slack", [PostedMessage(slack)])),
    ]
    page = _page("preview.html", query="", page=1, discord=drawn[0], slack=drawn[1], now=NOW).text or ""
    assert page.count('class="raw"') == 2  # each body is still shown, whatever shape it has


async def test_newsbot_run_serves_the_pages_beside_the_ingest_api(served: Served) -> None:
    from bot.app import build_delivery

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    application = replace(
        served.app, settings=served.app.settings.model_copy(update={"api": ApiSettings(port=port)})
    )
    engine = build_delivery(application, senders={}, serve_http=True)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        for _ in range(100):  # the server opens a moment after the engine starts
            try:
                status, page = await get(f"http://127.0.0.1:{port}/status")
                break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("the API server of newsbot run never opened")
        assert status == 200
        assert html.escape(DEAD_REASON) in page
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
