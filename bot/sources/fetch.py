"""Fetch feeds politely and safely: the HTTP layer under the feed poller.

Feed bugs users complain about start here: bots that hammer a server every minute, ignore 304s, keep
polling a feed that was removed, hang on a server that drips one byte a second, or fall over on a gzip
bomb. So every fetch is a conditional GET with our own timeouts, a per-host connection limit, a body cap
enforced on the *decompressed* bytes while streaming, and redirects followed by hand so a permanent move
is reported only when every hop says so. Nothing here raises across the boundary: a fetch returns an
outcome (`Fetched`, `NotModified` or `FetchFailed` with a line a user can read), and the poller decides.

The scheduling helpers at the bottom are pure functions of their arguments (no clock, no I/O), so every
replica computes the same next poll time for a feed and tests can pin them down exactly.

Sources for the numbers: reader (`_parser/http.py`, `_update/__init__.py`), MonitoRSS
(`services/feed-requests`), feedparser's `docs/http-redirect.rst`, RFC 9110 / 9111; see
../shared/notes/sources-threads-scale.md §1.3 and §1.7.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/newsbot/newsbot"
# What a feed reader asks for, modelled on feedparser's ACCEPT_HEADER (feedparser/http.py) with JSON Feed
# added; */* stays at the lowest weight because some servers answer 406 without it.
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, application/json;q=0.7, text/xml;q=0.6, */*;q=0.1"
)
# Only encodings the standard library decodes; aiohttp would add br/zstd when optional modules happen to
# be installed, which would make the wire behaviour depend on the environment.
ACCEPT_ENCODING = "gzip, deflate"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})  # feedparser docs: update the stored URL only on these
READ_CHUNK = 64 * 1024

DEFAULT_INTERVAL = timedelta(minutes=15)
DEFAULT_FLOOR = timedelta(minutes=5)  # never poll a feed more often than this, whatever it asks
DEFAULT_CEILING = timedelta(hours=24)
FRESHNESS_CAP = timedelta(hours=1)  # MonitoRSS caps Cache-Control/Expires freshness at 1 h
TTL_HINT_CAP = timedelta(hours=24)  # <ttl> and sy:updatePeriod are hints, trusted only up to a day
FAILURE_BASE = timedelta(minutes=5)  # MonitoRSS BASE_FAILED_ATTEMPT_WAIT_MINUTES
FAILURE_CAP = timedelta(days=1)
DEFAULT_PAUSE_AFTER = timedelta(days=7)  # MonitoRSS stops after 11 doubling failures, about a week
_SLOT_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def newsbot_version() -> str:
    """Return the installed newsbot version, or "0+source" when running from an uninstalled tree."""
    try:
        return version("newsbot")
    except PackageNotFoundError:
        return "0+source"


def default_user_agent() -> str:
    """Return the User-Agent feeds see: our name, version and where to complain."""
    return f"newsbot/{newsbot_version()} (+{PROJECT_URL})"


class FetchSettings(BaseModel):
    """How feeds are fetched: timeouts, size cap, politeness and identity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout_seconds: float = Field(default=10.0, gt=0)  # TCP + TLS handshake
    total_timeout_seconds: float = Field(default=20.0, gt=0)  # the whole fetch, redirects included
    read_timeout_seconds: float = Field(default=10.0, gt=0)  # longest silence between two reads
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)  # decompressed
    max_connections_per_host: int = Field(default=2, ge=1, le=16)
    max_redirects: int = Field(default=10, ge=0, le=50)  # undici's and aiohttp's default
    user_agent: str = Field(default_factory=default_user_agent, min_length=1)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 2xx answer with a non-empty body, decompressed and within the cap.

    `headers` are the response headers without Content-Encoding (and its Content-Length): the body is
    already decoded, and a parser that saw `gzip` would try to decode it again.
    """

    url: str
    final_url: str
    permanent_url: str | None  # set only when every redirect hop was 301/308
    status: int
    body: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None
    headers: Mapping[str, str]
    fresh_for: timedelta | None


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304: the feed has not changed since the validators we sent."""

    fresh_for: timedelta | None
    etag: str | None
    last_modified: str | None
    permanent_url: str | None = None  # a feed can move (301) and answer 304 at its new address


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """No usable body; `reason` is one line for `feeds list`, `gone` means stop polling (410)."""

    reason: str
    status: int | None = None
    retry_after: timedelta | None = None
    gone: bool = False


FetchOutcome = Fetched | NotModified | FetchFailed


class FeedFetcher:
    """One HTTP session for every feed fetch; use `async with FeedFetcher(settings) as fetcher:`."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self._session: aiohttp.ClientSession | None = None
        # aiohttp counts time spent queueing for a pooled connection against the request's timeout, so
        # a host with many feeds would time out in the queue. Waiting here first keeps the timeouts for
        # the network; the connector's limit_per_host stays as the backstop (and covers redirect hops).
        self._gates: weakref.WeakValueDictionary[tuple[str, str, int | None], asyncio.Semaphore] = (
            weakref.WeakValueDictionary()
        )

    async def open(self) -> None:
        """Create the session; called by `async with`, never at import or construction."""
        if self._session is not None:
            return
        s = self.settings
        connector = aiohttp.TCPConnector(
            limit_per_host=s.max_connections_per_host,
            # getaddrinfo in a thread: it honours /etc/hosts and nsswitch like every other program on the
            # host, and the test suite's offline guard watches it. aiohttp would otherwise switch to aiodns
            # on its own whenever that package happened to be installed.
            resolver=aiohttp.ThreadedResolver(),
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.connect_timeout_seconds, sock_read=s.read_timeout_seconds
            ),
            headers={"User-Agent": s.user_agent, "Accept": FEED_ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
            cookie_jar=aiohttp.DummyCookieJar(),  # one feed's cookies must not follow us to the next
            auto_decompress=True,
        )

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FeedFetcher:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchOutcome:
        """GET `url` conditionally and return what happened; never raises for network or HTTP trouble."""
        if self._session is None:
            raise RuntimeError("FeedFetcher.fetch() called before open()")
        try:
            start = URL(url)
        except (ValueError, TypeError) as error:
            return FetchFailed(f"not a valid URL: {url!r} ({error})")
        if start.scheme not in ("http", "https") or not start.host:
            return FetchFailed(f"not an http(s) URL: {url}")
        headers: dict[str, str] = {}
        # An empty If-None-Match makes some servers answer 200 where a 304 was due (MonitoRSS).
        if (tag := _sendable(etag)) is not None:
            headers["If-None-Match"] = tag
        if (since := _sendable(last_modified)) is not None:
            headers["If-Modified-Since"] = since
        total = self.settings.total_timeout_seconds
        gate = self._gate(start)
        async with gate:
            timer = asyncio.timeout(total)
            try:
                async with timer:
                    return await self._follow(self._session, url, start, headers)
            except TimeoutError as error:
                if timer.expired():
                    return FetchFailed(f"timed out after {_seconds(total)}")
                return self._failure(error, start)
            except (aiohttp.ClientError, OSError, ValueError) as error:
                return self._failure(error, start)
            except Exception as error:
                # The poller must go on with the other feeds whatever one of them does; keep the trace.
                log.exception("unexpected error fetching %s", url)
                return FetchFailed(f"unexpected error: {type(error).__name__}: {error}")

    def _gate(self, url: URL) -> asyncio.Semaphore:
        key = (url.scheme, url.host or "", url.port)
        gate = self._gates.get(key)
        if gate is None:
            gate = asyncio.Semaphore(self.settings.max_connections_per_host)
            self._gates[key] = gate
        return gate

    async def _follow(
        self, session: aiohttp.ClientSession, url: str, current: URL, headers: dict[str, str]
    ) -> FetchOutcome:
        # Redirects are followed by hand: aiohttp would follow them but could not tell a loop from a long
        # chain, and the per-hop statuses decide whether the stored URL may change.
        seen = {str(current.with_fragment(None))}
        hops: list[int] = []
        while True:
            async with session.get(current, headers=headers, allow_redirects=False) as response:
                status = response.status
                if status not in REDIRECT_STATUSES:
                    return await self._answer(url, current, hops, response, headers)
                location = response.headers.get("Location", "").strip()
                if not location:
                    return FetchFailed(f"HTTP {status} redirect without a Location header", status)
                try:
                    target = current.join(URL(location)).with_fragment(None)
                except ValueError:
                    return FetchFailed(f"redirected to an invalid URL: {location[:200]}", status)
                if target.scheme not in ("http", "https") or not target.host:
                    return FetchFailed(f"redirected to a non-http(s) URL: {location}", status)
                hops.append(status)
                if str(target) in seen:
                    return FetchFailed(f"redirect loop at {target}", status)
                if len(hops) > self.settings.max_redirects:
                    return FetchFailed(
                        f"too many redirects (more than {self.settings.max_redirects})", status
                    )
                seen.add(str(target))
                current = target

    async def _answer(
        self,
        url: str,
        final: URL,
        hops: list[int],
        response: aiohttp.ClientResponse,
        sent: dict[str, str],
    ) -> FetchOutcome:
        status = response.status
        now = datetime.now(UTC)
        moved = str(final) if hops and all(hop in PERMANENT_REDIRECTS for hop in hops) else None
        if status == HTTPStatus.NOT_MODIFIED:
            return NotModified(
                fresh_for=fresh_for(response.headers, now=now),
                etag=_nonempty(response.headers.get("ETag")) or sent.get("If-None-Match"),
                last_modified=_nonempty(response.headers.get("Last-Modified"))
                or sent.get("If-Modified-Since"),
                permanent_url=moved,
            )
        if status == HTTPStatus.GONE:
            return FetchFailed("HTTP 410 Gone: the feed was removed", status, gone=True)
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            wait = parse_retry_after(
                response.headers.get("Retry-After"), now=now, date=response.headers.get("Date")
            )
            if wait is not None:
                return FetchFailed(
                    f"HTTP {status}: retry after {_seconds(wait.total_seconds())}", status, wait
                )
            return FetchFailed(_status_line(status, response.reason), status)
        if not 200 <= status < 300:
            return FetchFailed(_status_line(status, response.reason), status)
        cap = self.settings.max_body_bytes
        encoded = "Content-Encoding" in response.headers
        declared = response.content_length
        if not encoded and declared is not None and declared > cap:
            response.close()  # don't download what we would throw away
            return FetchFailed(f"body larger than {_size(cap)}", status)
        body = bytearray()
        # aiohttp inflates in bounded steps as we read, so counting here caps the decompressed size and a
        # gzip bomb stops at the cap instead of inflating in memory first.
        async for chunk in response.content.iter_chunked(READ_CHUNK):
            if len(body) + len(chunk) > cap:
                response.close()
                return FetchFailed(f"body larger than {_size(cap)}", status)
            body += chunk
        if not body.strip():
            return FetchFailed("empty body", status)
        headers = CIMultiDict(response.headers)
        if encoded:
            headers.popall("Content-Encoding", None)
            headers.popall("Content-Length", None)
        return Fetched(
            url=url,
            final_url=str(final),
            permanent_url=moved,
            status=status,
            body=bytes(body),
            etag=_nonempty(response.headers.get("ETag")),
            last_modified=_nonempty(response.headers.get("Last-Modified")),
            content_type=_nonempty(response.headers.get("Content-Type")),
            headers=CIMultiDictProxy(headers),
            fresh_for=fresh_for(response.headers, now=now),
        )

    def _failure(self, error: BaseException, url: URL) -> FetchFailed:
        """Turn an exception from aiohttp or the OS into one readable line."""
        s = self.settings
        host = getattr(error, "host", None) or url.host or str(url)
        if isinstance(error, aiohttp.ConnectionTimeoutError):
            return FetchFailed(f"could not connect to {host} within {_seconds(s.connect_timeout_seconds)}")
        if isinstance(error, aiohttp.ServerTimeoutError):
            return FetchFailed(f"the server sent nothing for {_seconds(s.read_timeout_seconds)}")
        if isinstance(error, aiohttp.ClientConnectorDNSError):
            return FetchFailed(f"DNS lookup failed for {host}")
        if isinstance(error, aiohttp.ClientConnectorCertificateError):
            cause = error.certificate_error
            why = getattr(cause, "verify_message", None) or _first_line(cause)  # "self-signed certificate"
            return FetchFailed(f"TLS error: certificate of {host} not accepted ({why})")
        if isinstance(error, aiohttp.ClientSSLError):
            return FetchFailed(f"TLS error: {_first_line(error.os_error)}")
        if isinstance(error, aiohttp.ClientConnectorError):
            code = error.os_error.errno
            if code == errno.ECONNREFUSED or isinstance(error.os_error, ConnectionRefusedError):
                return FetchFailed("connection refused")
            if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return FetchFailed(f"{host} is unreachable")
            return FetchFailed(f"could not connect to {host}: {_first_line(error.os_error)}")
        if isinstance(error, aiohttp.ServerDisconnectedError):
            return FetchFailed("the server closed the connection before answering")
        if isinstance(error, aiohttp.ClientPayloadError):
            return FetchFailed(
                f"the response body was cut off or could not be decoded ({_first_line(error)})"
            )
        if isinstance(error, aiohttp.ClientResponseError):
            return FetchFailed(f"malformed HTTP response: {_first_line(error.message)}", error.status or None)
        if isinstance(error, aiohttp.InvalidURL):
            return FetchFailed(f"not a valid URL: {_first_line(error)}")
        if isinstance(error, ValueError):
            return FetchFailed(f"invalid request: {_first_line(error)}")
        return FetchFailed(f"network error: {type(error).__name__}: {_first_line(error)}")


# -- freshness and scheduling: pure functions -------------------------------------------------------------


def fresh_for(headers: Mapping[str, str], *, now: datetime) -> timedelta | None:
    """Return how long the response may be reused (RFC 9111), capped at `FRESHNESS_CAP`, or None.

    Cache-Control max-age (less Age) wins over Expires; no-cache and no-store mean no hint at all.
    """
    _aware(now)
    fields = CIMultiDict(headers)
    directives: dict[str, str] = {}
    for line in fields.getall("Cache-Control", []):
        for part in line.split(","):
            name, _, value = part.strip().partition("=")
            if name:
                directives.setdefault(name.lower(), value.strip().strip('"'))
    if "no-cache" in directives or "no-store" in directives:
        return None
    fresh: timedelta | None = None
    if "max-age" in directives:
        max_age = _whole_seconds(directives["max-age"])
        if max_age is None:
            return None
        age = _whole_seconds(fields.get("Age", "")) or 0
        fresh = timedelta(seconds=max_age - age)
    else:
        expires = _http_date(fields.get("Expires"))
        if expires is None:
            return None  # RFC 9111 §5.3: an invalid Expires (often "0") means already stale
        fresh = expires - (_http_date(fields.get("Date")) or now)
    if fresh <= timedelta(0):
        return None
    return min(fresh, FRESHNESS_CAP)


def parse_retry_after(value: str | None, *, now: datetime, date: str | None = None) -> timedelta | None:
    """Return the wait a Retry-After header asks for (delay-seconds or an HTTP date), or None if unusable.

    A date is measured against the response's own Date header when there is one, so clock skew between
    us and the server does not shorten or lengthen the wait.
    """
    _aware(now)
    if value is None or not value.strip():
        return None
    seconds = _whole_seconds(value)
    if seconds is not None:
        return timedelta(seconds=seconds)
    when = _http_date(value)
    if when is None:
        return None
    return max(timedelta(0), when - (_http_date(date) or now))


def slot_offset(url: str, interval: timedelta) -> timedelta:
    """Return the URL's fixed place within each interval: the same on every replica, spread across URLs."""
    period = interval // _MICROSECOND
    if period <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    # A stable hash, not hash(): Python salts str hashes per process, and replicas must agree.
    digest = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return timedelta(microseconds=int.from_bytes(digest, "big") % period)


def next_fetch_at(
    now: datetime,
    *,
    url: str,
    interval: timedelta = DEFAULT_INTERVAL,
    floor: timedelta = DEFAULT_FLOOR,
    ceiling: timedelta = DEFAULT_CEILING,
    fresh_for: timedelta | None = None,
    ttl_hint: timedelta | None = None,
    retry_after: timedelta | None = None,
) -> datetime:
    """Return when to poll `url` next, after a fetch finishing at `now`.

    The wait is the largest of the interval, the feed's ttl hint (capped at a day), the HTTP freshness
    and Retry-After, clamped to [floor, ceiling]. It then lands on the URL's slot (a deterministic offset
    within the interval, as MonitoRSS does), at or before the target, so polls spread over the interval
    and a fetch that ran a little late keeps its phase. It is never earlier than `floor` or Retry-After
    (unless that exceeds `ceiling`) and never later than `ceiling`.
    """
    _aware(now)
    if interval <= timedelta(0) or floor < timedelta(0) or ceiling < floor:
        raise ValueError(f"need interval > 0 and 0 <= floor <= ceiling; got {interval}, {floor}, {ceiling}")
    hints = [interval]
    if ttl_hint is not None:
        hints.append(min(ttl_hint, TTL_HINT_CAP))
    hints.extend(hint for hint in (fresh_for, retry_after) if hint is not None)
    wait = min(max(*hints, floor), ceiling)
    earliest = now + min(max(floor, retry_after or timedelta(0)), ceiling)
    target = now + wait
    phase = ((target - _SLOT_EPOCH) - slot_offset(url, interval)) % interval
    slot = target - phase
    if slot < earliest:
        slot += interval
    return min(slot, now + ceiling)


def failure_delay(
    fail_count: int, *, base: timedelta = FAILURE_BASE, cap: timedelta = FAILURE_CAP
) -> timedelta:
    """Return the wait after `fail_count` consecutive failures (1 = the first): base × 2^(n-1), capped."""
    if base <= timedelta(0):
        raise ValueError(f"base must be positive, got {base}")
    delay = base
    # Doubling step by step stops at the cap, where base × 2^n would overflow timedelta for large n.
    for _ in range(max(fail_count, 1) - 1):
        if delay >= cap:
            break
        delay *= 2
    return min(delay, cap)


def should_pause(
    first_failure_at: datetime | None, now: datetime, pause_after: timedelta = DEFAULT_PAUSE_AFTER
) -> bool:
    """Return whether a feed failing since `first_failure_at` has failed long enough to be paused."""
    _aware(now)
    if first_failure_at is None:
        return False
    return now - _aware(first_failure_at) >= pause_after


# -- small helpers ----------------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {moment!r}")
    return moment


def _nonempty(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def _sendable(value: str | None) -> str | None:
    """Return a stored validator fit to send back: non-empty, and unable to split the header block."""
    text = _nonempty(value)
    if text is None or any(c in text for c in "\r\n\x00"):
        return None
    return text


def _whole_seconds(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _http_date(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # HTTP dates are GMT by definition; a "-0000" zone parses as naive.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _status_line(status: int, reason: str | None) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = (reason or "").strip()[:80]
    return f"HTTP {status} {phrase}".rstrip()


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB"
    if limit >= 1024:
        return f"{limit / 1024:g} KB"
    return f"{limit} bytes"


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
