"""`newsbot preview`: the preview and status pages on their own, with no platform credentials."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import suppress

from aiohttp import web

from bot.preview.web import PREVIEW_PATH, PreviewDeps, preview_routes


def preview_application(deps: PreviewDeps) -> web.Application:
    """Return an aiohttp application serving only the pages (and "/" leading to the preview)."""

    async def home(_request: web.Request) -> web.Response:
        raise web.HTTPFound(PREVIEW_PATH)

    app = web.Application()
    app.add_routes([web.get("/", home), *preview_routes(deps)])
    return app


async def serve_preview(
    deps: PreviewDeps,
    host: str,
    port: int,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the pages on host:port until `stop` is set (or SIGINT/SIGTERM when none is given)."""
    stopping = stop or asyncio.Event()
    if stop is None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError, RuntimeError):  # not on every platform or thread
                loop.add_signal_handler(sig, stopping.set)
    runner = web.AppRunner(preview_application(deps), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        if on_ready is not None:
            on_ready(f"http://{host}:{bound}{PREVIEW_PATH}")
        await stopping.wait()
    finally:
        await runner.cleanup()
