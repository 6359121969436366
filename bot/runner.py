"""`newsbot run`: every configured platform in one process and event loop, stopped by SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from bot.app import build_runners, open_app
from bot.delivery.lock import hold_database
from bot.settings import Settings

log = logging.getLogger(__name__)


class NoPlatformConfigured(RuntimeError):
    """`newsbot run` was started without credentials for any platform."""


class CannotListen(RuntimeError):
    """A port `newsbot run` would listen on is taken or its address is not on this machine."""


def listeners(settings: Settings) -> list[tuple[str, str, int]]:
    """Return what `newsbot run` listens on: (what, host, port) for each HTTP server it would start."""
    found = []
    if settings.slack.configured and not settings.slack.socket_mode:
        found.append(
            ("the Slack HTTP listener (NEWSBOT_SLACK__HOST/PORT)", settings.slack.host, settings.slack.port)
        )
    if settings.delivery.enabled and settings.delivery.serve_http:
        found.append(("the ingest API (NEWSBOT_API__HOST/PORT)", settings.api.host, settings.api.port))
    return found


def check_listeners(settings: Settings) -> None:
    """Bind and release every address `run` will listen on, so a taken port is one line before anything starts.

    The servers themselves bind later, deep in aiohttp, where the failure would surface as a traceback
    after the platforms had already connected.
    """
    with ExitStack() as held:  # all held at once: the Slack listener and the API on one port clash too
        for what, host, port in listeners(settings):
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
                family, kind, proto, _, address = infos[0]
                probe = held.enter_context(socket.socket(family, kind, proto))
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
                probe.bind(address)
                probe.listen(1)  # with SO_REUSEADDR only a listening socket makes the next bind fail
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    reason = (
                        "the port is in use (another newsbot, another program, or another newsbot listener)"
                    )
                else:
                    reason = error.strerror or str(error)
                raise CannotListen(
                    f"newsbot run: cannot listen on {host}:{port} for {what}: {reason}; "
                    "stop what holds it or choose another port"
                ) from None


async def run_bot(settings: Settings) -> None:
    """Run until a signal asks to stop; a runner that fails stops the others too."""
    if not settings.platforms():
        raise NoPlatformConfigured(
            "newsbot run: no platform is configured. Set NEWSBOT_DISCORD__TOKEN for Discord, or "
            "NEWSBOT_SLACK__BOT_TOKEN with NEWSBOT_SLACK__SIGNING_SECRET (or NEWSBOT_SLACK__APP_TOKEN) "
            "for Slack; `newsbot config check` shows what is set."
        )
    check_listeners(settings)
    lock = hold_database(settings.database_url)  # a second bot on one SQLite file is refused here
    try:
        await _run_until_stopped(settings)
    finally:
        if lock is not None:
            lock.release()


RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
RESOURCE_LOG_EVERY = 60.0  # seconds between two lines about the same exhausted resource


class ResourceErrors:
    """An event-loop exception handler that says "out of file descriptors" once a minute, not 90,000 times.

    When the process runs out of sockets, asyncio's accept loop logs a traceback for every failed
    accept; everything else goes to the default handler unchanged.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: dict[int, float] = {}
        self.suppressed: dict[int, int] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """Handle one exception the event loop could not deliver."""
        error = context.get("exception")
        if not isinstance(error, OSError) or error.errno not in RESOURCE_ERRNOS:
            loop.default_exception_handler(context)
            return
        code = int(error.errno)
        now = self.clock()
        if now - self.last.get(code, float("-inf")) < RESOURCE_LOG_EVERY:
            self.suppressed[code] = self.suppressed.get(code, 0) + 1
            return
        skipped = self.suppressed.pop(code, 0)
        self.last[code] = now
        log.error(
            "out of a system resource: %s (%s)%s; raise the limit (ulimit -n) or put a proxy in front",
            errno.errorcode.get(code, code),
            error.strerror,
            f"; {skipped} more since the last line" if skipped else "",
        )


async def _run_until_stopped(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(ResourceErrors())
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_app(settings, migrate_in_child=True) as application:
        runners = build_runners(application)
        tasks = [asyncio.create_task(r.run(stop), name=type(r).__name__) for r in runners]
        log.info("newsbot running: %s", ", ".join(settings.platforms()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    stop.set()
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]  # re-raised for the CLI to report
