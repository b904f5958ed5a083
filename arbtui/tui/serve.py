"""``arbtui serve``: the console in a browser (textual-serve), behind three locks a web page cannot pick.

A console session can pause, kill and hedge, and any page open in the operator's browser can try to
open a WebSocket to ``127.0.0.1`` (cross-site WebSocket hijacking: browsers do not apply the same-origin
policy to WebSockets). So every session must pass, before a console process is started:

1. **Origin**: the handshake's ``Origin`` is the origin this server serves (the loopback names
   ``127.0.0.1``/``localhost``/``[::1]`` on our port are one machine; otherwise exactly ``--host``).
   A browser always sends it and a page cannot forge it; a handshake without one is refused too.
2. **Secret**: the page's ``?token=`` and the socket's ``/ws/<token>`` (or ``/ws?token=``) equal the
   server's token (``ARBTUI_SERVE_TOKEN``, or a one-time token printed at start), in constant time.
   The page needs it as well, so a foreign page cannot read it.
3. **Session limit**: at most ``max_sessions`` consoles at once (each is a whole bot).

``read_only`` starts each console with ``--read-only``: the panes, and no key that reaches pause,
resume, kill or hedge. Every refusal is one log line naming the peer and the reason, never the token.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server

from arbtui.config import is_loopback

SERVE_TOKEN_ENV = "ARBTUI_SERVE_TOKEN"
MIN_TOKEN_LENGTH = 32
"""A serve token given in the environment must be at least this long (the generated one is 43)."""
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

log = logging.getLogger("arbtui.serve")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ServeTokenTooShort(ValueError):
    """``ARBTUI_SERVE_TOKEN`` is shorter than :data:`MIN_TOKEN_LENGTH`."""


def serve_token(environ: dict[str, str] | Any) -> tuple[str, bool]:
    """The session secret: ``ARBTUI_SERVE_TOKEN`` (``(token, False)``), or a fresh one-time token
    (``(token, True)``) to print in the URL."""
    given = environ.get(SERVE_TOKEN_ENV, "")
    if given:
        if len(given) < MIN_TOKEN_LENGTH:
            raise ServeTokenTooShort(
                f"{SERVE_TOKEN_ENV} is {len(given)} characters; use at least {MIN_TOKEN_LENGTH}"
                " (`arbtui token new` prints one)"
            )
        return given, False
    return secrets.token_urlsafe(32), True


@dataclass(frozen=True)
class Guard:
    """What a session must show: the token, and an Origin among ``origins``."""

    token: str
    origins: frozenset[str]
    max_sessions: int

    def refusal(self, origin: str | None, token: str, open_sessions: int) -> tuple[int, str] | None:
        """``None`` when a session may open; else the HTTP status and the reason (without any token)."""
        if origin is None:
            return 403, "no Origin header (a browser always sends one)"
        if origin.lower().rstrip("/") not in self.origins:
            return 403, f"foreign Origin {origin[:100]!r}"
        if not hmac.compare_digest(token.encode("utf-8", "surrogateescape"), self.token.encode()):
            return 401, "missing or wrong token"
        if open_sessions >= self.max_sessions:
            return 429, f"{open_sessions} console session(s) already open (at most {self.max_sessions}: --max-sessions)"
        return None


def served_origins(host: str, port: int) -> frozenset[str]:
    """The origins a page served by us can have: ``http(s)://host:port``, every loopback name if
    ``host`` is loopback."""
    hosts = LOOPBACK_NAMES if is_loopback(host) else (f"[{host}]" if ":" in host else host,)
    return frozenset(f"{scheme}://{name.lower()}:{port}" for name in hosts for scheme in ("http", "https"))


class ConsoleServer(Server):
    """textual-serve's server with the Origin check, the token and the session limit in front of
    ``/ws`` (and the token in front of the page)."""

    def __init__(self, command: str, *, host: str, port: int, guard: Guard, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title)
        self.guard = guard
        self.sessions = 0

    def initialize_logging(self) -> None:
        """One plain line per event; no rich tracebacks with locals (they would show the token)."""
        logging.basicConfig(level="INFO", format="%(message)s")
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # the access log prints ?token=

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: the CLI already printed where to go (textual-serve's banner would hide the token)."""

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        presented = request.query.get("token", "")
        if not hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), self.guard.token.encode()):
            log.warning("refused the console page to %s: missing or wrong token", request.remote)
            return web.Response(status=401, text="arbtui serve: open the URL printed at start (it carries the token)")
        ws_url = self.public_url.replace("http", "ws", 1) + "/ws/" + quote(presented, safe="")
        context = {
            "font_size": 16,
            "app_websocket_url": ws_url,
            "config": {"static": {"url": f"{self.public_url}/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        # the page's script appends ``?width=…&height=…`` to the URL it is given: the token rides in the path
        app.router.add_get("/ws/{token}", self.handle_websocket)
        app.middlewares.append(self._guard_sessions)
        return app

    @web.middleware
    async def _guard_sessions(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """In front of ``/ws``: refuse before the upgrade (and before any console process starts)."""
        if request.path != "/ws" and not request.path.startswith("/ws/"):
            return await handler(request)
        origin = request.headers.get("Origin")
        token = request.path.removeprefix("/ws").removeprefix("/") or request.query.get("token", "")
        refusal = self.guard.refusal(origin, token, self.sessions)
        if refusal is not None:
            status, reason = refusal
            log.warning("refused a console session from %s: %s", request.remote, reason)
            return web.Response(status=status, text=f"arbtui serve: {reason}")
        self.sessions += 1
        log.info("console session opened from %s (origin %s; %d open)", request.remote, origin, self.sessions)
        try:
            return await handler(request)
        finally:
            self.sessions -= 1
            log.info("console session closed (%d open)", self.sessions)


def console_url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/?token={token}"
