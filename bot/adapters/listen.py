"""Listening sockets that idle or flooding clients cannot exhaust: an idle timeout and a connection cap.

aiohttp keeps a connection that never sends a request for an hour by default; 1,100 such sockets to
the Slack listener used up the process's 1,024 file descriptors, and every command, API call and
database connection then failed (issue 10 item 9). Both HTTP servers (the ingest API and Slack's
listener) start through `start_site`.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

# A connection that sends no complete request for this long is closed (also a slow, trickled one):
# Slack and API clients send their request at once, and reconnecting costs them one handshake.
IDLE_TIMEOUT_S = 15.0
# Open connections per server; beyond it the oldest is closed so that a new client is still served.
# Well below the usual 1,024 descriptors, which the database pool and the chat clients also need.
MAX_CONNECTIONS = 256


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    *,
    idle_timeout: float = IDLE_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port; return the runner (to clean up) and the bound port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=idle_timeout)
    await runner.setup()
    server = runner.server
    if server is None:  # setup() always makes one; this keeps the type checker and a future aiohttp honest
        raise RuntimeError("aiohttp's AppRunner.setup() made no server")
    accepted = server.connection_made
    warned = False

    def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
        # aiohttp has no connection limit of its own; its Server sees every connection first.
        nonlocal warned
        accepted(handler, transport)
        excess = server.connections[: max(0, len(server.connections) - max_connections)]
        if excess and not warned:
            warned = True
            log.warning(
                "http %s:%s: more than %d open connections; closing the oldest (logged once)",
                host,
                port,
                max_connections,
            )
        for oldest in excess:
            oldest.force_close()

    server.connection_made = connection_made  # type: ignore[method-assign]
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    return runner, int(addresses[0][1]) if addresses else port
