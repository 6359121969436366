"""A loopback feed server: the ways real feed hosts behave and misbehave, on 127.0.0.1.

Use it as `async with FakeFeeds() as feeds:`, describe what each path answers (`feeds.serve(...)`,
`feeds.redirect(...)`, `feeds.drip(...)`, `feeds.gzip_bomb(...)`, `feeds.huge(...)`, `feeds.fail(...)`),
change a path's `Route` between polls, and assert on `feeds.requests` (method, path, headers) to check
exactly what a client sent. ETag and Last-Modified get real 304 handling; `max_in_flight` records the
most requests the server was answering at once, so tests can check per-host connection limits.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

RSS = "application/rss+xml; charset=utf-8"
_ZEROS = bytes(1024 * 1024)


def sample_rss(*titles: str) -> bytes:
    """Return a small valid RSS 2.0 document with one item per title."""
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{i}</link><guid>item-{i}</guid></item>"
        for i, t in enumerate(titles or ("First story",))
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Fake feed</title>'
        f"<link>https://example.org/</link><description>test</description>{items}</channel></rss>"
    ).encode()


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Route:
    """What one path answers. Tests may mutate it between polls."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = RSS
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # sent as ETag; a matching If-None-Match gets 304
    last_modified: datetime | None = None  # sent as Last-Modified; If-Modified-Since ≥ it gets 304
    location: str | None = None  # with a 3xx status: the Location header
    gzip: bool = False  # send `body` gzip-encoded
    drip_every: float | None = None  # send the body one byte at a time, this many seconds apart
    stall_for: float | None = None  # send headers, then nothing for this long before the body
    generated_size: int | None = None  # stream this many zero bytes instead of `body`, never held whole
    chunked: bool = False  # with generated_size: no Content-Length, so the client cannot refuse up front
    bomb_size: int | None = None  # a gzip stream that inflates to this many bytes
    delay: float = 0.0  # wait this long before answering at all


class FakeFeeds:
    """An aiohttp server on 127.0.0.1 that serves feed paths from a mutable table."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # serve https with this (e.g. a self-signed certificate)
        self.routes: dict[str, Route] = {}
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._bombs: dict[int, bytes] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeFeeds:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT (https when serving TLS)."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Return the absolute URL of `path` on this server."""
        return f"{self.base_url}{path}"

    # -- describing responses -----------------------------------------------------------------------

    def serve(self, path: str, body: bytes, *, status: int = 200, **options: object) -> Route:
        """Answer `path` with `body`; options are `Route` fields (etag, last_modified, headers, ...)."""
        route = Route(body=body, status=status, **options)  # type: ignore[arg-type]
        self.routes[path] = route
        return route

    def redirect(self, path: str, to: str, status: int = 301) -> Route:
        """Answer `path` with a redirect to `to` (a path on this server or an absolute URL)."""
        return self.serve(path, b"", status=status, location=to, content_type=None)

    def fail(self, path: str, status: int, *, retry_after: str | None = None, body: bytes = b"") -> Route:
        """Answer `path` with an error status, optionally with a Retry-After header."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return self.serve(path, body, status=status, headers=headers, content_type="text/plain")

    def drip(self, path: str, body: bytes, every: float) -> Route:
        """Answer `path` with `body` one byte every `every` seconds (a slow-drip server)."""
        return self.serve(path, body, drip_every=every)

    def huge(self, path: str, size: int, *, chunked: bool = False) -> Route:
        """Answer `path` with `size` bytes streamed in 1 MB pieces, with Content-Length unless `chunked`."""
        return self.serve(path, b"", generated_size=size, chunked=chunked)

    def gzip_bomb(self, path: str, size: int) -> Route:
        """Answer `path` with a small gzip body that inflates to `size` bytes."""
        return self.serve(path, b"", bomb_size=size)

    def hits(self, path: str) -> list[Recorded]:
        """Return the requests made for `path`, oldest first."""
        return [r for r in self.requests if r.path == path]

    # -- serving ----------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Recorded(request.method, request.path, dict(request.headers), time.monotonic()))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._respond(request)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="no such feed", content_type="text/plain")
        if route.delay:
            await asyncio.sleep(route.delay)
        headers = dict(route.headers)
        if route.etag is not None:
            headers["ETag"] = route.etag
        if route.last_modified is not None:
            headers["Last-Modified"] = format_datetime(route.last_modified, usegmt=True)
        if route.location is not None:
            headers["Location"] = route.location
        if route.status == 200 and self._not_modified(request, route):
            return web.Response(status=304, headers=headers)
        if route.content_type is not None:
            headers["Content-Type"] = route.content_type
        if route.bomb_size is not None:
            return await self._send_bomb(request, headers, route.bomb_size)
        if route.generated_size is not None:
            return await self._send_generated(request, headers, route.generated_size, route.chunked)
        body = gzip.compress(route.body) if route.gzip else route.body
        if route.gzip:
            headers["Content-Encoding"] = "gzip"
        if route.drip_every is None and route.stall_for is None:
            return web.Response(status=route.status, body=body, headers=headers)
        response = web.StreamResponse(status=route.status, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        if route.stall_for is not None:
            await asyncio.sleep(route.stall_for)
        if route.drip_every is None:
            await response.write(body)
        else:
            for i in range(len(body)):
                await response.write(body[i : i + 1])
                await asyncio.sleep(route.drip_every)
        await response.write_eof()
        return response

    @staticmethod
    def _not_modified(request: web.Request, route: Route) -> bool:
        # RFC 9110 §13.1: If-None-Match, when present, decides alone; weak comparison for GET.
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            if route.etag is None:
                return False
            wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in wanted or route.etag.removeprefix("W/") in wanted
        since = request.headers.get("If-Modified-Since")
        if since is None or route.last_modified is None:
            return False
        try:
            return route.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False

    async def _send_generated(
        self, request: web.Request, headers: dict[str, str], size: int, chunked: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=headers)
        if chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = size
        await response.prepare(request)
        sent = 0
        try:
            while sent < size:
                piece = _ZEROS[: min(len(_ZEROS), size - sent)]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client hung up at its cap, which is what tests want
        return response

    async def _send_bomb(
        self, request: web.Request, headers: dict[str, str], size: int
    ) -> web.StreamResponse:
        body = self._bombs.get(size)
        if body is None:
            body = _compress_zeros(size)
            self._bombs[size] = body
        headers["Content-Encoding"] = "gzip"
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        try:
            await response.write(body)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response


def _compress_zeros(size: int) -> bytes:
    """Return gzip of `size` zero bytes, built a megabyte at a time so the fake never holds `size`."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip wrapper
    parts = []
    left = size
    while left > 0:
        piece = _ZEROS[: min(len(_ZEROS), left)]
        parts.append(packer.compress(piece))
        left -= len(piece)
    parts.append(packer.flush())
    return b"".join(parts)
