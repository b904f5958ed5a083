"""The headless HTTP service: liveness, readiness, Prometheus metrics and authenticated operator control.

```
GET  /health               200 {"status": "alive"}                 the process answers; the engine is not asked
GET  /ready                200 | 503 {"ready", "checks": {name: {"ok", "detail"}}}
GET  /metrics              200 Prometheus text exposition of the engine's registry
POST /control/pause        {"symbol": "AAPL" | null, "reason", "actor"?}          → 200 {"action", "symbol"}
POST /control/resume       {"symbol": "AAPL" | null, "reason", "actor"?}          → 200 {"action", "symbol"}
POST /control/kill         {"reason", "actor"?}                                   → 200 {"action"}
POST /control/clear-kill   {"reason", "actor"?}                                   → 200 {"action"}
POST /control/hedge        {"symbol", "side", "shares": "1.5", "reason", "actor"?, "allow_overhedge"?}
                                                                                  → 200 {"execution_id"}
```

Control routes need ``Authorization: Bearer <ARBTUI_CONTROL_TOKEN>`` (compared in constant time); without
a configured token they do not exist (404 saying why). Errors are JSON ``{"error": "<one line>"}``:
400 bad body or :class:`~arbtui.domain.errors.InvalidCommand`, 401 missing/wrong token, 404 control
disabled, 409 any other :class:`~arbtui.domain.errors.DomainError` (state conflict), 503
:class:`~arbtui.engine.ports.StoreError` (ledger not writable) — nothing was recorded in each case.

Neither the token nor the ``Authorization`` header is ever logged: the access log has a fixed format
without request headers, and refusals log only the route and the peer address. A request aiohttp cannot
parse (a header over :data:`MAX_FIELD_BYTES`, more than :data:`MAX_HEADERS` headers, a malformed line) is
answered and logged by :class:`_QuietRequestHandler` with a fixed reason, never with its bytes: aiohttp's
own error line quotes the offending header, so an oversized ``Authorization`` would otherwise put the
token in the log and in the answer. A connection that has not sent a complete request head within
:data:`HEADER_TIMEOUT` seconds (from its start, or from the previous answer) is closed.

A handler is never cancelled when its client disconnects (``handler_cancellation=False``): a hedge that
reached the engine runs to its end even if the CLI gave up waiting.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, HttpProcessingError, InvalidHeader, LineTooLong
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from arbtui.api._bodies import BadRequest, parse_audit, parse_manual_hedge, parse_symbol_scope
from arbtui.clock import Clock, SystemClock
from arbtui.config import is_loopback
from arbtui.domain.errors import DomainError, InvalidCommand
from arbtui.engine.ports import OperatorControl, Readiness, ReadinessSource, StoreError

READINESS_TIMEOUT = 2.0
"""Seconds ``/ready`` waits for the engine's checks before answering 503 (a probe must not hang)."""

MAX_BODY_BYTES = 16 * 1024
"""Largest request body accepted (a control body is a few hundred bytes)."""

SHUTDOWN_TIMEOUT = 10.0
"""Seconds :func:`serve` lets in-flight requests finish when it stops."""

ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tfs'
"""Peer, request line, status, size, duration — never a request header."""

MAX_LINE_BYTES = 8190
"""Longest request line (method, path, version) accepted."""

MAX_FIELD_BYTES = 8190
"""Longest single header accepted; a longer one is refused with 431 (a bearer token is tens of bytes)."""

MAX_HEADERS = 32
"""Most headers accepted in one request (the CLI sends six, a Prometheus scrape about as many)."""

HEADER_TIMEOUT = 10.0
"""Seconds a connection may take to send a complete request head — from its start, or from the answer to
its previous request (keep-alive) — before it is closed. A slow-header client cannot hold a socket."""

BACKLOG = 128
"""Pending connections the listening socket queues."""

CONTROL_DISABLED = (
    "control routes are disabled: the bot was started without ARBTUI_CONTROL_TOKEN, "
    "so pause, resume, kill and manual hedges are refused over HTTP"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    control: OperatorControl,
    health: ReadinessSource,
    registry: CollectorRegistry,
    *,
    control_token: SecretStr | None,
    clock: Clock | None = None,
) -> web.Application:
    """The whole service. ``control_token`` ``None`` (or empty) disables every ``/control/*`` route.
    ``clock`` stamps each control request's :class:`~arbtui.domain.values.Audit` when it is received
    (the system clock unless given)."""
    token = control_token.get_secret_value().encode("utf-8") if control_token is not None else b""
    routes = _Routes(control, health, registry, token, clock or SystemClock())
    app = web.Application(middlewares=[_error_responses], client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/health", routes.health)
    app.router.add_get("/ready", routes.ready)
    app.router.add_get("/metrics", routes.metrics)
    if token:
        app.router.add_post("/control/pause", routes.guarded(routes.pause))
        app.router.add_post("/control/resume", routes.guarded(routes.resume))
        app.router.add_post("/control/kill", routes.guarded(routes.kill))
        app.router.add_post("/control/clear-kill", routes.guarded(routes.clear_kill))
        app.router.add_post("/control/hedge", routes.guarded(routes.hedge))
    else:
        app.router.add_route("*", "/control/{tail:.*}", _control_disabled)
    return app


@dataclass(frozen=True)
class ListenAddress:
    """Where :func:`serve` is listening (the real port when asked for port 0)."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@asynccontextmanager
async def serve(
    app: web.Application, host: str, port: int, *, header_timeout: float = HEADER_TIMEOUT
) -> AsyncIterator[ListenAddress]:
    """Listen on ``host:port`` (loopback is the safe default; anything else is logged as a warning)
    until the block exits, then stop accepting and give in-flight requests :data:`SHUTDOWN_TIMEOUT`.
    ``header_timeout``: see :data:`HEADER_TIMEOUT`."""
    if not is_loopback(host):
        logger.warning(
            "HTTP service listening on non-loopback address {}: control is protected by the token only", host
        )
    runner = web.AppRunner(
        app,
        handle_signals=False,
        handler_cancellation=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = _GuardedSite(runner, host, port, header_timeout=header_timeout)
        await site.start()
        bound = _bound_port(runner, fallback=port)
        logger.info("HTTP service listening on {}:{}", host, bound)
        yield ListenAddress(host, bound)
    finally:
        await runner.cleanup()
        logger.info("HTTP service stopped")


class _QuietRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, except for a request it cannot parse: aiohttp would log the parser's
    message with a traceback and send it back as the answer, and that message quotes the offending bytes
    (an oversized ``Authorization: Bearer <token>…`` header verbatim). Here the answer and the one log line
    carry a fixed reason and the peer address only. Faults of a handler itself keep aiohttp's handling
    (a 500 without details; the traceback names no request header)."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        answer, reason = _malformed(exc)
        logger.warning("refused a malformed request from {} ({}): {}", request.remote, answer, reason)
        response = web.json_response({"error": reason}, status=answer)
        response.force_close()
        return response


def _malformed(exc: HttpProcessingError) -> tuple[int, str]:
    """Status and a fixed reason for a request aiohttp could not parse — never the exception's message."""
    if isinstance(exc, LineTooLong):
        return 431, f"request line or header field too large (at most {MAX_FIELD_BYTES} bytes each)"
    if isinstance(exc, InvalidHeader):
        return 400, "malformed request header"
    if isinstance(exc, BadStatusLine):
        return 400, "malformed request line"
    return 400, f"malformed HTTP request (at most {MAX_HEADERS} headers of {MAX_FIELD_BYTES} bytes each)"


class _GuardedSite(web.BaseSite):
    """A TCP listener whose connections are :class:`_QuietRequestHandler` with explicit header limits and
    :data:`HEADER_TIMEOUT` (aiohttp's keep-alive timer, which it arms when a connection opens and after
    each answer, closes a connection still waiting for a complete request head; its default is an hour)."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, header_timeout: float) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._host = host
        self._port = port
        self._header_timeout = header_timeout

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() comes first"
        loop = asyncio.get_running_loop()
        connection = functools.partial(
            _QuietRequestHandler,
            server,
            loop=loop,
            keepalive_timeout=self._header_timeout,
            access_log_format=ACCESS_LOG_FORMAT,
            max_line_size=MAX_LINE_BYTES,
            max_field_size=MAX_FIELD_BYTES,
            max_headers=MAX_HEADERS,
        )
        self._server = await loop.create_server(connection, self._host, self._port, backlog=self._backlog)


class _Routes:
    def __init__(
        self, control: OperatorControl, health: ReadinessSource, registry: CollectorRegistry, token: bytes, clock: Clock
    ) -> None:
        self._control = control
        self._health = health
        self._registry = registry
        self._token = token
        self._clock = clock

    # probes ---------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def ready(self, request: web.Request) -> web.Response:
        try:
            readiness = await asyncio.wait_for(self._health.readiness(), READINESS_TIMEOUT)
        except TimeoutError:
            return web.json_response(
                {"ready": False, "checks": {"engine": {"ok": False, "detail": "readiness checks timed out"}}},
                status=503,
            )
        except StoreError as exc:
            return web.json_response(
                {"ready": False, "checks": {"database": {"ok": False, "detail": str(exc)}}}, status=503
            )
        return web.json_response(_readiness_json(readiness), status=200 if readiness.ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # control --------------------------------------------------------------------------------
    def guarded(self, handler: Handler) -> Handler:
        """``handler`` behind the bearer token: the body is not even read without the right one."""

        async def check_token(request: web.Request) -> web.StreamResponse:
            if not self._authorised(request.headers.get("Authorization", "")):
                logger.warning(
                    "refused {} {} from {}: missing or wrong bearer token", request.method, request.path, request.remote
                )
                return web.json_response(
                    {"error": "missing or wrong bearer token (Authorization: Bearer <ARBTUI_CONTROL_TOKEN>)"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return await handler(request)

        return check_token

    def _authorised(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        presented = credentials.strip().encode("utf-8", "surrogateescape") if scheme.lower() == "bearer" else b""
        # compare even when the scheme is wrong, so timing says nothing about which part failed
        matches = hmac.compare_digest(presented, self._token)
        return matches and bool(presented)

    async def pause(self, request: web.Request) -> web.Response:
        scope = parse_symbol_scope(await request.read(), at=self._clock.now())
        await self._control.pause(scope.symbol, actor=scope.audit.actor, reason=scope.audit.reason)
        logger.info("paused {} by {}: {}", scope.symbol or "every symbol", scope.audit.actor, scope.audit.reason)
        return web.json_response({"action": "paused", "symbol": scope.symbol})

    async def resume(self, request: web.Request) -> web.Response:
        scope = parse_symbol_scope(await request.read(), at=self._clock.now())
        await self._control.resume(scope.symbol, actor=scope.audit.actor, reason=scope.audit.reason)
        logger.info("resumed {} by {}: {}", scope.symbol or "every symbol", scope.audit.actor, scope.audit.reason)
        return web.json_response({"action": "resumed", "symbol": scope.symbol})

    async def kill(self, request: web.Request) -> web.Response:
        audit = parse_audit(await request.read(), at=self._clock.now())
        await self._control.engage_kill_switch(actor=audit.actor, reason=audit.reason)
        logger.warning("kill switch engaged by {}: {}", audit.actor, audit.reason)
        return web.json_response({"action": "kill switch engaged"})

    async def clear_kill(self, request: web.Request) -> web.Response:
        audit = parse_audit(await request.read(), at=self._clock.now())
        await self._control.clear_kill_switch(actor=audit.actor, reason=audit.reason)
        logger.warning("kill switch cleared by {}: {}", audit.actor, audit.reason)
        return web.json_response({"action": "kill switch cleared"})

    async def hedge(self, request: web.Request) -> web.Response:
        hedge = parse_manual_hedge(await request.read(), at=self._clock.now())
        execution_id = await self._control.manual_hedge(
            hedge.symbol,
            hedge.direction,
            hedge.shares,
            actor=hedge.audit.actor,
            reason=hedge.audit.reason,
            allow_overhedge=hedge.allow_overhedge,
        )
        logger.info(
            "manual hedge {} {} {} by {}: execution {} ({})",
            hedge.direction,
            hedge.shares,
            hedge.symbol,
            hedge.audit.actor,
            execution_id,
            hedge.audit.reason,
        )
        return web.json_response({"execution_id": str(execution_id)})


@web.middleware
async def _error_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Typed errors → status + ``{"error": str(exc)}``. Anything else is not ours to hide: aiohttp logs
    it and answers 500."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return _refused(request, 400, str(exc))
    except InvalidCommand as exc:
        return _refused(request, 400, str(exc))
    except DomainError as exc:
        return _refused(request, 409, str(exc))
    except StoreError as exc:
        logger.error("{} {}: ledger error: {}", request.method, request.path, exc)
        return _refused(request, 503, str(exc))


def _refused(request: web.Request, status: int, message: str) -> web.Response:
    if status < 500:
        logger.info("refused {} {} ({}): {}", request.method, request.path, status, message)
    return web.json_response({"error": message}, status=status)


async def _control_disabled(request: web.Request) -> web.Response:
    return web.json_response({"error": CONTROL_DISABLED}, status=404)


def _readiness_json(readiness: Readiness) -> dict[str, Any]:
    return {
        "ready": readiness.ready,
        "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in readiness.checks.items()},
    }


def _bound_port(runner: web.AppRunner, *, fallback: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return fallback
