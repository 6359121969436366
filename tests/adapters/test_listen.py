"""HTTP listeners close idle connections and cap open ones, so idle sockets cannot lock clients out."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web

from bot.adapters.listen import start_site


async def _hello(_request: web.Request) -> web.Response:
    return web.Response(text="hello")


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", _hello)
    return app


async def test_more_idle_sockets_than_the_cap_still_let_a_real_request_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner, port = await start_site(_app(), "127.0.0.1", 0, idle_timeout=30, max_connections=8)
    idle: list[asyncio.StreamWriter] = []
    try:
        for _ in range(20):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            idle.append(writer)
        await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as response:
            assert (response.status, await response.text()) == (200, "hello")
        capped = [r for r in caplog.records if "open connections" in r.getMessage()]
        assert len(capped) == 1
        assert capped[0].levelno == logging.WARNING
    finally:
        for writer in idle:
            writer.close()
        await runner.cleanup()


async def test_an_idle_or_trickling_connection_is_closed_after_the_timeout() -> None:
    runner, port = await start_site(_app(), "127.0.0.1", 0, idle_timeout=0.3)
    try:
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", port)
        slow_reader, slow = await asyncio.open_connection("127.0.0.1", port)
        slow.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        await slow.drain()
        assert await asyncio.wait_for(silent_reader.read(), timeout=3) == b""
        assert await asyncio.wait_for(slow_reader.read(), timeout=3) == b""
        silent.close()
        slow.close()
    finally:
        await runner.cleanup()


def test_the_slack_listener_binds_to_loopback_unless_configured() -> None:
    from bot.settings import SlackSettings

    assert SlackSettings().host == "127.0.0.1"
