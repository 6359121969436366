"""Serve a fake platform from its own thread and event loop, so it stamps arrivals as a remote server
would, not late whenever the test's or bench's own loop is busy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def own_loop(fake: Any) -> AsyncIterator[Any]:
    """Serve a fake from its own thread and event loop, so it stamps arrivals as a remote server would,
    not late whenever the bot's loop is busy rendering."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-platform", daemon=True)
    thread.start()
    try:
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fake.__aenter__(), loop))
        try:
            yield fake
        finally:
            await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(fake.__aexit__(None, None, None), loop)
            )
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
