"""The preview and status pages as aiohttp routes, for the API server of `newsbot run` or on their own.

Reading needs the API token (Authorization: Bearer …) or a loopback client; a change (retry) needs
the token every time, as a form field or the header. No cookie is ever set, so a page on another
site cannot borrow an operator's session: a forged form post carries no token and is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import SecretStr

from bot.core.layout import LAYOUTS, ChannelLayout
from bot.preview.model import PreviewSource, StatusSource
from bot.preview.views import draw

if TYPE_CHECKING:
    from jinja2 import Environment

PREVIEW_PATH = "/preview"
STATUS_PATH = "/status"
RETRY_PATH = "/status/deliveries/{delivery_id:\\d+}/retry"
STYLE_PATH = "/preview/preview.css"
RECENT_DELIVERIES = 50
PAGE_MAX = 1000
# Headers a reverse proxy adds: behind one, every client looks like loopback, so none is trusted as such.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
# No script runs and nothing loads from elsewhere; inline style attributes carry the embed colours.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class PreviewDeps:
    """What the pages need: where previews and status come from, the API token and a clock."""

    preview: PreviewSource
    status: StatusSource
    token: SecretStr | None
    clock: Clock


@cache
def _templates() -> Environment:
    # On first request: Jinja2 and markdown-it are ~5 MB an idle `newsbot run` need not hold.
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("bot.preview", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M %Z") if moment else ""
    return env


def _page(template: str, status: int = 200, **context: Any) -> web.Response:
    text = _templates().get_template(template).render(**context)
    return web.Response(text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def _problem(status: int, title: str, message: str, **headers: str) -> web.Response:
    response = _page("problem.html", status, title=title, message=message)
    response.headers.update(headers)
    return response


class PreviewPages:
    """The request handlers, bound to one set of dependencies."""

    def __init__(self, deps: PreviewDeps) -> None:
        self.deps = deps

    def _token_matches(self, given: str | None) -> bool:
        token = self.deps.token
        if token is None or not token.get_secret_value() or not given:
            return False
        return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())

    def _bearer(self, request: web.Request) -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" else None

    def _may_read(self, request: web.Request) -> bool:
        return self._token_matches(self._bearer(request)) or _loopback(request)

    def _refused(self, action: str) -> web.Response:
        configured = self.deps.token is not None and bool(self.deps.token.get_secret_value())
        how = (
            "give the API token (NEWSBOT_API__TOKEN) as a bearer token"
            if configured
            else "set NEWSBOT_API__TOKEN; until then only this machine can read these pages and nobody can change anything"
        )
        return _problem(
            401, "Not allowed", f"To {action}, {how}.", **{"WWW-Authenticate": 'Bearer realm="newsbot"'}
        )

    async def preview(self, request: web.Request) -> web.Response:
        """Show the next digest, or a /topic answer, as Discord and Slack will show it."""
        if not self._may_read(request):
            return self._refused("see the preview from another machine")
        query = request.query.get("topic", "").strip()
        try:
            page = int(request.query.get("page", "1"))
        except ValueError:
            page = 0
        if not 1 <= page <= PAGE_MAX:
            return _problem(400, "Bad page", f"page must be a whole number from 1 to {PAGE_MAX}.")
        layout, threads = request.query.get("layout", "compact"), request.query.get("threads", "on")
        if layout not in LAYOUTS or threads not in ("on", "off"):
            return _problem(400, "Bad settings", "layout must be compact or full, threads on or off.")
        settings = ChannelLayout("full" if layout == "full" else "compact", threads=threads == "on")
        pair = (
            await self.deps.preview.topic_answer(query, page)
            if query
            else await self.deps.preview.next_digest(settings)
        )
        return _page(
            "preview.html",
            query=query,
            page=page,
            layout=layout,
            threads=threads,
            discord=draw(pair.discord),
            slack=draw(pair.slack),
            now=self.deps.clock(),
        )

    async def status(self, request: web.Request) -> web.Response:
        """Show channels, schedules, subscriptions and recent deliveries, with a retry for dead ones."""
        if not self._may_read(request):
            return self._refused("see the status from another machine")
        view = await self.deps.status.status(deliveries=RECENT_DELIVERIES)
        retried = request.query.get("retried", "")
        return _page(
            "status.html",
            view=view,
            retried=int(retried) if retried.isdigit() else None,
            token_configured=self.deps.token is not None and bool(self.deps.token.get_secret_value()),
            now=self.deps.clock(),
        )

    async def retry(self, request: web.Request) -> web.StreamResponse:
        """Re-queue a dead delivery; needs the token in the form or the Authorization header."""
        given = self._bearer(request)
        if given is None and request.content_type in {
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        }:
            form = await request.post()
            field = form.get("token")
            given = field if isinstance(field, str) else None
        if not self._token_matches(given):
            return self._refused("retry a delivery")
        delivery_id = int(request.match_info["delivery_id"])
        outcome = await self.deps.status.retry(delivery_id)
        if outcome == "missing":
            return _problem(404, "No such delivery", f"There is no delivery {delivery_id}.")
        if outcome == "not-dead":
            return _problem(
                409,
                "Not retried",
                f"Delivery {delivery_id} is neither dead nor paused; only those can be retried.",
            )
        raise web.HTTPSeeOther(f"{STATUS_PATH}?retried={delivery_id}")

    async def style(self, _request: web.Request) -> web.Response:
        """Serve the pages' stylesheet."""
        css = files("bot.preview").joinpath("templates", "preview.css").read_text(encoding="utf-8")
        return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "max-age=300"})


def _loopback(request: web.Request) -> bool:
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def preview_routes(deps: PreviewDeps) -> list[web.RouteDef]:
    """Return the routes of the preview and status pages, to add to any aiohttp application."""
    pages = PreviewPages(deps)
    return [
        web.get(PREVIEW_PATH, pages.preview),
        web.get(STATUS_PATH, pages.status),
        web.post(RETRY_PATH, pages.retry),
        web.get(STYLE_PATH, pages.style),
    ]
