"""A JSON-RPC proxy in front of anvil (HTTP and WebSocket on one port) that injects node faults.

Faults (each counted, so a test can first assert that it really fired — lesson 28):

* ``swallow_notifications``: subscription notifications from the node are dropped; the socket stays
  open and answers everything else (a subscription that dies silently — lesson 15).
* ``logs_behind_block``: behave like a node lagging behind a load balancer whose head is that block —
  ``eth_getLogs`` answers ``[]`` and ``eth_getBlockByNumber`` answers ``null`` above it, while
  ``eth_blockNumber`` (served by a fresh node) passes through (lesson 16).
* ``kill_subscriptions()``: close every client WebSocket at once (the stream ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from arbtui.demo.anvil import free_port


@dataclass
class FaultCounters:
    notifications_forwarded: int = 0
    notifications_swallowed: int = 0
    empty_log_answers: int = 0
    """eth_getLogs answered ``[]`` by the lagging-node fault although the range was above its head."""
    hidden_blocks: int = 0
    subscriptions_killed: int = 0
    ws_connections: int = 0


@dataclass
class RpcProxy:
    upstream_http: str
    upstream_ws: str
    swallow_notifications: bool = False
    logs_behind_block: int | None = None
    counters: FaultCounters = field(default_factory=FaultCounters)
    port: int = 0
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _client_sockets: set[web.WebSocketResponse] = field(default_factory=set)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for _ in range(5):
            self.port = free_port()
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            try:
                await site.start()
                return
            except OSError:
                continue
        raise RuntimeError("proxy could not bind a port")

    async def stop(self) -> None:
        await self.kill_subscriptions(count=False)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def kill_subscriptions(self, *, count: bool = True) -> int:
        sockets = list(self._client_sockets)
        for ws in sockets:
            await ws.close(code=1011, message=b"proxy killed the stream")
        if count:
            self.counters.subscriptions_killed += len(sockets)
        return len(sockets)

    # --- HTTP ------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        body = await request.json()
        assert self._session is not None
        if isinstance(body, list):
            answers = [await self._one(item) for item in body]
            return web.json_response(answers)
        return web.json_response(await self._one(body))

    async def _one(self, call: dict[str, Any]) -> dict[str, Any]:
        faked = self._fault(call)
        if faked is not None:
            return faked
        assert self._session is not None
        async with self._session.post(self.upstream_http, json=call) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
            return answer

    def _fault(self, call: dict[str, Any]) -> dict[str, Any] | None:
        lag = self.logs_behind_block
        if lag is None:
            return None
        method, params = call.get("method"), call.get("params") or []
        if method == "eth_getLogs":
            to_block = params[0].get("toBlock", "latest") if params else "latest"
            if to_block == "latest" or int(to_block, 16) > lag:
                self.counters.empty_log_answers += 1
                return {"jsonrpc": "2.0", "id": call.get("id"), "result": []}
        numbered = method == "eth_getBlockByNumber" and params and str(params[0]).startswith("0x")
        if numbered and int(params[0], 16) > lag:
            self.counters.hidden_blocks += 1
            return {"jsonrpc": "2.0", "id": call.get("id"), "result": None}
        return None

    # --- WebSocket -------------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        client = web.WebSocketResponse()
        await client.prepare(request)
        self.counters.ws_connections += 1
        self._client_sockets.add(client)
        assert self._session is not None
        try:
            async with self._session.ws_connect(self.upstream_ws, max_msg_size=2**24) as upstream:
                pump = asyncio.create_task(self._pump_down(upstream, client))
                try:
                    async for message in client:
                        if message.type is WSMsgType.TEXT:
                            await upstream.send_str(message.data)
                        elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                            break
                finally:
                    pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pump
        finally:
            self._client_sockets.discard(client)
            await client.close()
        return client

    async def _pump_down(self, upstream: aiohttp.ClientWebSocketResponse, client: web.WebSocketResponse) -> None:
        async for message in upstream:
            if message.type is not WSMsgType.TEXT:
                break
            if '"eth_subscription"' in message.data and json.loads(message.data).get("method") == "eth_subscription":
                if self.swallow_notifications:
                    self.counters.notifications_swallowed += 1
                    continue
                self.counters.notifications_forwarded += 1
            if client.closed:
                break
            await client.send_str(message.data)
        await client.close()
