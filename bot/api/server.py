"""`POST /api/v1/summaries`, `GET /healthz` and `GET /metrics` on aiohttp.web."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.adapters.listen import start_site
from bot.core.loader import Loaded, LoadError, load_text
from bot.core.service import NewsService
from bot.delivery.metrics import DeliveryMetrics
from bot.settings import ApiSettings
from bot.store.engine import StoreError

log = logging.getLogger(__name__)

Health = Callable[[], Awaitable[dict[str, Any]]]
JSON_TYPES = {"application/json"}
YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
SUMMARIES_PATH = "/api/v1/summaries"


def _problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class IngestApi:
    """The request handlers, bound to one service and one set of API settings."""

    def __init__(
        self,
        service: NewsService,
        settings: ApiSettings,
        *,
        metrics: DeliveryMetrics | None = None,
        health: Health | None = None,
        routes: Sequence[web.RouteDef] = (),
    ) -> None:
        self.service = service
        self.settings = settings
        self.metrics = metrics or DeliveryMetrics()
        self.health = health
        self.routes = routes  # more pages on the same server (the preview and status pages)
        self._database_down = False  # one log line when an outage starts, one when it ends

    def application(self) -> web.Application:
        """Build the aiohttp application (the body limit is enforced by aiohttp itself)."""
        app = web.Application(client_max_size=self.settings.max_body_bytes, middlewares=[self._problems])
        app.router.add_post(SUMMARIES_PATH, self.post_summaries)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_routes(self.routes)
        return app

    @web.middleware
    async def _problems(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _problem(413, f"the body is larger than {self.settings.max_body_bytes} bytes")
        except StoreError as error:
            # A database outage is the server's passing trouble, not a bug: clients get JSON they can
            # retry on, and the log gets one line per outage instead of a traceback per request.
            if not self._database_down:
                self._database_down = True
                log.error("api: the database is unavailable, answering 503 until it is back: %s", error)
            return _problem(503, "the database is unavailable; try again later", retry_after_seconds=30)
        if self._database_down and response.status < 500:
            self._database_down = False
            log.info("api: the database is available again")
        return response

    def _authorised(self, request: web.Request) -> bool:
        token = self.settings.token
        if token is None or not token.get_secret_value():
            return False
        given = request.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode(), token.get_secret_value().encode())

    async def post_summaries(self, request: web.Request) -> web.Response:
        """Store the summaries in the body: 201 when any was new or changed, 200 when all were unchanged."""
        if not self._authorised(request):
            configured = self.settings.token is not None and bool(self.settings.token.get_secret_value())
            message = (
                "missing or wrong bearer token (Authorization: Bearer …)"
                if configured
                else "the ingest API is disabled: set NEWSBOT_API__TOKEN"
            )
            return web.json_response(
                {"error": message}, status=401, headers={"WWW-Authenticate": 'Bearer realm="newsbot"'}
            )
        if request.content_length is not None and request.content_length > self.settings.max_body_bytes:
            return _problem(413, f"the body is larger than {self.settings.max_body_bytes} bytes")
        raw = await request.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return _problem(
                422,
                "the body is not UTF-8 text",
                errors=[{"where": "body", "problems": [f"byte {exc.start}"]}],
            )
        kind = request.content_type.lower()
        suffix = ".json" if kind in JSON_TYPES or kind.endswith("+json") else ".yaml"
        if (
            suffix != ".json"
            and kind not in YAML_TYPES
            and kind not in {"application/octet-stream", "text/plain"}
        ):
            return _problem(415, f"send JSON (application/json) or YAML (application/yaml), not {kind}")
        # Parsing and validating a body of up to max_body_bytes takes long enough to stall every
        # other request, Slack's 3-second acks included, if it ran on the event loop.
        items = await asyncio.to_thread(load_text, text, suffix=suffix, where="body")
        errors = [i for i in items if isinstance(i, LoadError)]
        if errors:
            self.metrics.ingested.labels(outcome="invalid").inc(len(errors))
            details = [{"where": e.where, "problems": list(e.problems)} for e in errors]
            return _problem(422, "the body holds invalid summaries; nothing was stored", errors=details)
        loaded = [i for i in items if isinstance(i, Loaded)]
        # The service's listeners count the outcomes and wake the sender loop (bot/app.py).
        result = await self.service.ingest([i.summary for i in loaded])
        changed = result.changed
        body = {
            "results": [
                {"id": item.summary.id, "outcome": outcome}
                for item, outcome in zip(loaded, result.outcomes, strict=True)
            ],
            "unknown_tags": {k: list(v) for k, v in result.unknown_tags.items()},
        }
        return web.json_response(body, status=201 if changed else 200)

    async def healthz(self, _request: web.Request) -> web.Response:
        """Say whether the process can reach its database, and when it last ticked."""
        if self.health is None:
            return web.json_response({"status": "ok"})
        try:
            details = await self.health()
        except Exception as exc:  # a health probe reports problems, it never fails with a traceback
            # The reason goes to the log only: /healthz is unauthenticated, and a database error can
            # quote the server, user or URL, so the page carries no configuration at all.
            log.warning("health check failed: %s", exc)
            return web.json_response({"status": "unavailable"}, status=503)
        return web.json_response({"status": "ok", **details}, dumps=lambda d: json.dumps(d, default=str))

    async def prometheus(self, _request: web.Request) -> web.Response:
        """Expose this process's metrics in the Prometheus text format."""
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


class ApiServer:
    """Serve an IngestApi on host:port until stopped."""

    def __init__(self, api: IngestApi, host: str, port: int) -> None:
        self.api = api
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Start listening; with port 0 the chosen port is then in `self.port`."""
        self._runner, self.port = await start_site(self.api.application(), self.host, self.port)
        log.info("ingest API, /healthz and /metrics on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and finish open requests."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
