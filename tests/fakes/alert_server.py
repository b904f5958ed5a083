"""A local alert receiver (aiohttp on 127.0.0.1): a webhook endpoint that verifies the HMAC signature
with the secret it was given, and a Telegram Bot API ``sendMessage`` that checks the token in the path
and the fields as the Bot API documents them (JSON or form-encoded; ``chat_id`` and ``text``, at most
4096 characters). Both record every request they handled.

Faults: the shared ones of :class:`~arbtui.demo.local_server.LocalServer` (``server_error``, ``slow``,
``drop``, each counted when it fires) by route name (``webhook``, ``telegram``), and :attr:`stalled`: every
request then waits until the server stops — a sink that never answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from arbtui.demo.local_server import LocalServer

BOT_TOKEN = "123456:TEST-bot-token-never-logged"
WEBHOOK_PATH = "/hook"


@dataclass(frozen=True)
class Received:
    """One request a route handled."""

    path: str
    content_type: str
    body: bytes
    headers: dict[str, str]
    fields: dict[str, Any]
    """The JSON object (or the form's fields) the body held."""
    signature_ok: bool | None = None
    """Webhook only: ``None`` without a secret, else whether ``X-Arbtui-Signature`` matched."""


class AlertReceiver(LocalServer):
    def __init__(self, *, secret: str | None = None, token: str = BOT_TOKEN) -> None:
        super().__init__()
        self.secret = secret
        self.token = token
        self.webhooks: list[Received] = []
        self.telegram: list[Received] = []
        self.stalled = False
        self.stalled_requests = 0
        """Requests that arrived while :attr:`stalled` (each then waits for the server's stop)."""
        self.arrived = asyncio.Event()
        """Set on every request handled (clear it, then wait for the next)."""
        self._release = asyncio.Event()
        self.app.router.add_post(WEBHOOK_PATH, self._webhook, name="webhook")
        self.app.router.add_post("/bot{token}/sendMessage", self._send_message, name="telegram")

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    async def stop(self) -> None:
        self._release.set()  # a stalled request answers now, so the runner's cleanup does not wait for it
        await super().stop()

    async def _stall(self) -> None:
        if self.stalled:
            self.stalled_requests += 1
            await self._release.wait()

    async def _webhook(self, request: web.Request) -> web.Response:
        await self._stall()
        body = await request.read()
        signature_ok: bool | None = None
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            signature_ok = hmac.compare_digest(expected, request.headers.get("X-Arbtui-Signature", ""))
        self.webhooks.append(
            Received(request.path, request.content_type, body, dict(request.headers), json.loads(body), signature_ok)
        )
        self.arrived.set()
        if signature_ok is False:
            return web.json_response({"error": "bad signature"}, status=401)
        return web.json_response({"received": True})

    async def _send_message(self, request: web.Request) -> web.Response:
        await self._stall()
        if request.match_info["token"] != self.token:
            return _bot_error(401, "Unauthorized")
        body = await request.read()
        fields: dict[str, Any]
        if request.content_type == "application/json":
            fields = json.loads(body)
        elif request.content_type == "application/x-www-form-urlencoded":
            fields = dict(await request.post())
        else:
            return _bot_error(400, f"Bad Request: unsupported content type {request.content_type}")
        self.telegram.append(Received(request.path, request.content_type, body, dict(request.headers), fields))
        self.arrived.set()
        chat_id, text = fields.get("chat_id"), fields.get("text")
        if not isinstance(chat_id, int | str) or chat_id == "":
            return _bot_error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _bot_error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _bot_error(400, "Bad Request: message is too long")
        message = {"message_id": len(self.telegram), "chat": {"id": chat_id}, "date": 0, "text": text}
        return web.json_response({"ok": True, "result": message})


def _bot_error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)
