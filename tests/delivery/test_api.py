"""The HTTP ingest API, /healthz and /metrics, on a real loopback server."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from bot.api import server as server_module
from bot.api.server import ApiServer, IngestApi
from bot.core.loader import Loaded, LoadError, load_text
from bot.core.ports import ChannelKey
from bot.settings import ApiSettings
from tests.delivery.helpers import FakeClock, Stack, stack

TOKEN = "s3cret-token"
START = datetime(2026, 5, 1, 7, 0, tzinfo=UTC)
STORY = {
    "id": "drone-rules",
    "headline": "New drone certification rules",
    "published": "2026-05-01T06:00:00+00:00",
    "topics": [{"title": "Drones", "text": "Certification of drone components.", "tags": ["drones"]}],
}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@asynccontextmanager
async def served(s: Stack, **settings: object) -> AsyncIterator[str]:
    api = ApiSettings(**{"token": SecretStr(TOKEN), **settings})  # type: ignore[arg-type]

    server = ApiServer(IngestApi(s.service, api, metrics=s.metrics, health=s.ticker.health), "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def test_ingest_answers_201_then_200_and_the_alert_is_posted_once(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        await s.channels.subscribe(ChannelKey("discord", "g", "c1"), "drones", user="u", now=clock())
        async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r:
            assert r.status == 201
            assert (await r.json())["results"] == [{"id": "drone-rules", "outcome": "created"}]
        await s.worker.drain()
        async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r:
            assert r.status == 200
            assert (await r.json())["results"] == [{"id": "drone-rules", "outcome": "unchanged"}]
        await s.worker.drain()
        assert [p.channel for p in s.senders["discord"].posts] == ["c1"]


async def test_yaml_bodies_are_accepted(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        body = "id: y1\nheadline: A YAML story\ntopics:\n  - title: AI\n    text: Models.\n    tags: [ai]\n"
        headers = {**AUTH, "Content-Type": "application/yaml"}
        async with http.post(f"{base}/api/v1/summaries", data=body, headers=headers) as r:
            assert r.status == 201
        assert await s.service.archive.count_stories() == 1


async def test_requests_without_the_token_are_refused(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=headers) as r:
                assert r.status == 401
                assert "bearer token" in (await r.json())["error"]
        assert await s.service.archive.count_stories() == 0


async def test_without_a_configured_token_the_api_is_disabled_and_stores_nothing(database_url: str) -> None:
    clock = FakeClock(START)
    for token in (None, SecretStr("")):
        async with (
            stack(database_url, clock) as s,
            served(s, token=token) as base,
            aiohttp.ClientSession() as http,
        ):
            # An empty bearer would match an empty token: the disabled API must not compare at all.
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}, AUTH):
                async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=headers) as r:
                    assert r.status == 401, (token, headers)
                    assert (await r.json())["error"] == "the ingest API is disabled: set NEWSBOT_API__TOKEN"
            assert await s.service.archive.count_stories() == 0


async def test_bodies_over_the_limit_get_413(database_url: str) -> None:
    clock = FakeClock(START)
    async with (
        stack(database_url, clock) as s,
        served(s, max_body_bytes=1000) as base,
        aiohttp.ClientSession() as http,
    ):
        big = {**STORY, "lede": "x" * 5000}
        async with http.post(f"{base}/api/v1/summaries", json=big, headers=AUTH) as r:
            assert r.status == 413
        chunks = (json.dumps(big).encode()[i : i + 100] for i in range(0, 6000, 100))

        async def stream() -> AsyncIterator[bytes]:
            for c in chunks:
                yield c

        headers = {**AUTH, "Content-Type": "application/json"}
        async with http.post(f"{base}/api/v1/summaries", data=stream(), headers=headers) as r:
            assert r.status == 413  # without Content-Length too
        assert await s.service.archive.count_stories() == 0


async def test_invalid_summaries_get_422_with_field_paths_and_nothing_is_stored(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        bad = {**STORY, "published": "yesterday", "topics": [{"text": "no title"}]}
        async with http.post(f"{base}/api/v1/summaries", json=[STORY, bad], headers=AUTH) as r:
            assert r.status == 422
            problems = (await r.json())["errors"][0]["problems"]
            said = await r.json()
        assert said["error"] == "the body holds invalid summaries; nothing was stored"
        assert [e["where"] for e in said["errors"]] == [
            "body[1]"
        ]  # the second summary, where the client sent it
        assert any(p.startswith("published:") for p in problems)
        assert any(p.startswith("topics.0.title:") for p in problems)
        async with http.post(
            f"{base}/api/v1/summaries", data="{not json", headers={**AUTH, "Content-Type": "application/json"}
        ) as r:
            assert r.status == 422
        assert await s.service.archive.count_stories() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        ("[" * 100_000, "application/json", "body: too deeply nested"),
        ("[" * 5_000, "application/yaml", "body: too deeply nested"),
        (
            "headline: h\nlede: &big " + "x" * 100_000 + "\ncontext: [" + ", ".join(["*big"] * 2_000) + "]\n",
            "application/yaml",
            "body: its aliases expand it",
        ),
    ],
)
async def test_nested_and_alias_bombs_get_422_json_and_nothing_is_stored(
    database_url: str, body: str, content_type: str, expected: str
) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        headers = {**AUTH, "Content-Type": content_type}
        async with http.post(f"{base}/api/v1/summaries", data=body, headers=headers) as r:
            assert r.status == 422
            [error] = (await r.json())["errors"]
        assert str(error["where"] + ": " + error["problems"][0]).startswith(expected)
        assert await s.service.archive.count_stories() == 0


async def test_a_nul_character_gets_422_naming_the_field(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        bad = {**STORY, "id": "nul", "lede": "before\u0000after"}
        async with http.post(f"{base}/api/v1/summaries", json=[STORY, bad], headers=AUTH) as r:
            assert r.status == 422
            [error] = (await r.json())["errors"]
        assert error["where"] == "body[1]"
        assert error["problems"][0].startswith("lede: contains a NUL character")
        async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r:
            assert r.status == 201  # the server is unharmed and the good story goes in on its own


async def test_bodies_are_parsed_off_the_event_loop(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> list[Loaded | LoadError]:
        threads.append(threading.current_thread().name)
        return load_text(*args, **kwargs)

    monkeypatch.setattr(server_module, "load_text", recording)
    clock = FakeClock(START)
    async with (
        stack(database_url, clock) as s,
        served(s) as base,
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r,
    ):
        assert r.status == 201
    assert threads
    assert threading.main_thread().name not in threads


async def test_healthz_and_metrics(database_url: str) -> None:
    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        await s.channels.subscribe(ChannelKey("discord", "g", "c1"), "drones", user="u", now=clock())
        async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r:
            assert r.status == 201
        await s.run_until_quiet()
        await s.ticker.tick()  # the queue depth gauge is refreshed by each tick
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
            assert (await r.json())["outbox"] == {"sent": 1}
        async with http.get(f"{base}/metrics") as r:
            text = await r.text()
        assert 'newsbot_deliveries_total{platform="discord",status="sent"} 1.0' in text
        assert 'newsbot_outbox_depth{status="sent"} 1.0' in text
        assert "newsbot_send_seconds_bucket" in text
        assert "newsbot_last_tick_timestamp_seconds" in text
        assert 'newsbot_ingested_summaries_total{outcome="created"} 1.0' in text


# -- what a client is told, one request at a time (SQLite only: the database is not the point here) ----


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsbot.db'}"


async def test_a_refused_request_says_how_to_authenticate(tmp_path: Path) -> None:
    async with (
        stack(_sqlite(tmp_path), FakeClock(START)) as s,
        served(s) as base,
        aiohttp.ClientSession() as http,
    ):
        async with http.post(f"{base}/api/v1/summaries", json=STORY) as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="newsbot"'
            assert (await r.json()) == {"error": "missing or wrong bearer token (Authorization: Bearer …)"}
        async with http.post(
            f"{base}/api/v1/summaries", json=STORY, headers={"Authorization": f"bearer  {TOKEN} "}
        ) as r:
            assert r.status == 201  # the scheme is case-insensitive and the token's spaces are not part of it


@pytest.mark.parametrize(
    "kind",
    [
        "application/yaml",
        "application/x-yaml",
        "text/yaml",
        "text/x-yaml",
        "text/plain",
        "application/octet-stream",
    ],
)
async def test_yaml_is_read_under_every_yaml_media_type_and_as_plain_bytes(tmp_path: Path, kind: str) -> None:
    body = "id: y1\nheadline: A YAML story\ntopics:\n  - title: AI\n    text: Models.\n    tags: [ai]\n"
    async with (
        stack(_sqlite(tmp_path), FakeClock(START)) as s,
        served(s) as base,
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/v1/summaries", data=body, headers={**AUTH, "Content-Type": kind}) as r,
    ):
        assert r.status == 201, await r.text()
        assert (await r.json())["results"] == [{"id": "y1", "outcome": "created"}]


async def test_json_with_a_suffix_type_and_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + json.dumps(STORY).encode()
    headers = {**AUTH, "Content-Type": "application/vnd.newsbot+json"}
    async with (
        stack(_sqlite(tmp_path), FakeClock(START)) as s,
        served(s) as base,
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/v1/summaries", data=data, headers=headers) as r,
    ):
        assert r.status == 201, await r.text()


async def test_other_media_types_get_415_naming_what_to_send(tmp_path: Path) -> None:
    headers = {**AUTH, "Content-Type": "text/html"}
    async with (
        stack(_sqlite(tmp_path), FakeClock(START)) as s,
        served(s) as base,
        aiohttp.ClientSession() as http,
    ):
        async with http.post(f"{base}/api/v1/summaries", data="<p>hi</p>", headers=headers) as r:
            assert r.status == 415
            assert (await r.json()) == {
                "error": "send JSON (application/json) or YAML (application/yaml), not text/html"
            }
        assert await s.service.archive.count_stories() == 0


async def test_a_body_that_is_not_utf8_gets_422_naming_the_byte(tmp_path: Path) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    async with (
        stack(_sqlite(tmp_path), FakeClock(START)) as s,
        served(s) as base,
        aiohttp.ClientSession() as http,
        http.post(f"{base}/api/v1/summaries", data=b'{"id": "\xff"}', headers=headers) as r,
    ):
        assert r.status == 422
        assert (await r.json()) == {
            "error": "the body is not UTF-8 text",
            "errors": [{"where": "body", "problems": ["byte 8"]}],
        }


async def test_a_declared_length_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    async with (
        stack(_sqlite(tmp_path), FakeClock(START)) as s,
        served(s, max_body_bytes=1000) as base,
        aiohttp.ClientSession() as http,
    ):
        async with http.post(f"{base}/api/v1/summaries", data=b"x" * 1001, headers=AUTH) as r:
            assert r.status == 413
            assert (await r.json()) == {"error": "the body is larger than 1000 bytes"}
        async with http.post(f"{base}/api/v1/summaries", data=b"x" * 1000, headers=AUTH) as r:
            assert r.status == 422  # exactly the limit is read (and then found invalid)

        async def stream() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"x" * 100

        async with http.post(f"{base}/api/v1/summaries", data=stream(), headers=AUTH) as r:
            assert r.status == 413
            assert (await r.json()) == {"error": "the body is larger than 1000 bytes"}


async def test_unknown_tags_are_reported_and_only_a_change_wakes_the_sender(tmp_path: Path) -> None:
    story = {**STORY, "topics": [{"title": "Drones", "text": "Parts.", "tags": ["drones", "zeppelins"]}]}
    woken: list[int] = []
    async with stack(_sqlite(tmp_path), FakeClock(START)) as s, aiohttp.ClientSession() as http:
        s.service.listeners.append(lambda result: woken.append(1) if result.changed else None)
        api = IngestApi(s.service, ApiSettings(token=SecretStr(TOKEN)), metrics=s.metrics)
        server = ApiServer(api, "127.0.0.1", 0)
        await server.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with http.post(f"{base}/api/v1/summaries", json=story, headers=AUTH) as r:
                assert (await r.json())["unknown_tags"] == {"drone-rules": ["zeppelins"]}
            assert woken == [1]
            async with http.post(f"{base}/api/v1/summaries", json=story, headers=AUTH) as r:
                assert r.status == 200
            assert woken == [1]  # nothing changed: no wake-up
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
            assert 'newsbot_ingested_summaries_total{outcome="created"} 1.0' in text
            assert 'newsbot_ingested_summaries_total{outcome="unchanged"} 1.0' in text
            async with http.post(f"{base}/api/v1/summaries", json={"id": "x"}, headers=AUTH) as r:
                assert r.status == 422
            async with http.get(f"{base}/metrics") as r:
                assert 'newsbot_ingested_summaries_total{outcome="invalid"} 1.0' in await r.text()
                assert r.headers["Content-Type"].startswith("text/plain")
        finally:
            await server.stop()
            await server.stop()  # stopping twice is harmless
        with pytest.raises(aiohttp.ClientConnectionError):  # and a stopped server answers nobody
            async with http.get(f"{base}/healthz"):
                pass
        await ApiServer(api, "127.0.0.1", 0).stop()  # nor is stopping one that never started


async def test_healthz_says_ok_without_a_probe_and_a_bare_503_when_the_probe_fails(
    tmp_path: Path,
) -> None:
    async def broken() -> dict[str, object]:
        # A driver error can quote the URL; the unauthenticated page must show none of it.
        raise OSError("cannot reach postgresql://bot@db:5432/news?password=hunter2")

    async def ticked() -> dict[str, object]:
        return {"last_tick": START}  # not JSON by itself: shown as text

    async with stack(_sqlite(tmp_path), FakeClock(START)) as s, aiohttp.ClientSession() as http:
        for health, status, said in (
            (None, 200, {"status": "ok"}),
            (broken, 503, {"status": "unavailable"}),
            (ticked, 200, {"status": "ok", "last_tick": "2026-05-01 07:00:00+00:00"}),
        ):
            server = ApiServer(
                IngestApi(s.service, ApiSettings(token=SecretStr(TOKEN)), health=health), "127.0.0.1", 0
            )
            await server.start()
            try:
                async with http.get(f"http://127.0.0.1:{server.port}/healthz") as r:
                    assert r.status == status
                    assert await r.json() == said
            finally:
                await server.stop()


async def test_a_database_outage_answers_json_503_and_logs_once_per_outage(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.store.engine import StoreError

    clock = FakeClock(START)
    async with stack(database_url, clock) as s, served(s) as base, aiohttp.ClientSession() as http:
        real = s.service.archive.put_many

        async def down(*_args: object, **_kwargs: object) -> object:
            raise StoreError("cannot connect to the database: connection refused")

        monkeypatch.setattr(s.service.archive, "put_many", down)
        caplog.set_level(logging.INFO, logger=server_module.__name__)
        caplog.clear()
        for _ in range(3):
            async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r:
                assert r.status == 503
                assert "database" in (await r.json())["error"]
        monkeypatch.setattr(s.service.archive, "put_many", real)
        async with http.post(f"{base}/api/v1/summaries", json=STORY, headers=AUTH) as r:
            assert r.status == 201
        api_lines = [r for r in caplog.records if r.name == server_module.__name__]
        assert [r.levelname for r in api_lines] == ["ERROR", "INFO"]
        assert all(r.exc_info is None for r in api_lines)


async def test_the_api_listens_on_the_port_it_is_configured_with(tmp_path: Path) -> None:
    # NEWSBOT_API__PORT: the client or proxy in front of newsbot is pointed at exactly this port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    async with stack(_sqlite(tmp_path), FakeClock(START)) as s, aiohttp.ClientSession() as http:
        server = ApiServer(IngestApi(s.service, ApiSettings(token=SecretStr(TOKEN))), "127.0.0.1", port)
        await server.start()
        try:
            assert server.port == port
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
        finally:
            await server.stop()
