"""A JSON-RPC proxy in front of anvil (HTTP and WebSocket on one port) that injects node faults.

Faults (each counted, so a test can first assert that it really fired — lesson 28):

* ``swallow_notifications``: subscription notifications from the node are dropped; the socket stays
  open and answers everything else (a subscription that dies silently — lesson 15).
* ``logs_behind_block``: behave like a node lagging behind a load balancer whose head is that block —
  ``eth_getLogs`` answers ``[]`` and ``eth_getBlockByNumber`` answers ``null`` above it, while
  ``eth_blockNumber`` (served by a fresh node) passes through (lesson 16).
* ``kill_subscriptions()``: close every client WebSocket at once (the stream ends).
* ``index_lag``: a node whose log index lags its headers by that many blocks (lesson 16, issue 18):
  ``eth_getLogs`` over a range reaching the newest ``index_lag`` blocks answers ``[]`` (the logs it hid
  are counted), headers pass through unchanged. With ``receipts_fault``: ``"strip"`` — receipts of those
  blocks come without the logs of ``hidden_address`` (they look complete: only a later re-read can
  tell); ``"null"`` — they are not available yet (``null``).
* ``refuse_methods``: answer JSON-RPC "method not found" (-32601) for these methods.
* ``saturated_blooms``: headers of these blocks carry an all-ones ``logsBloom`` (a bloom false positive).
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
    hidden_logs: int = 0
    """Distinct logs the ``index_lag`` fault withheld from eth_getLogs answers (at least once each)."""
    hidden_keys: set[tuple[str, str]] = field(default_factory=set)
    stripped_receipt_logs: int = 0
    null_receipts: int = 0
    refused_calls: int = 0
    saturated_headers: int = 0
    subscriptions_killed: int = 0
    ws_connections: int = 0


@dataclass
class RpcProxy:
    upstream_http: str
    upstream_ws: str
    swallow_notifications: bool = False
    logs_behind_block: int | None = None
    index_lag: int | None = None
    receipts_fault: str | None = None
    hidden_address: str = ""
    refuse_methods: set[str] = field(default_factory=set)
    saturated_blooms: set[int] = field(default_factory=set)
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
        head = await self._head() if self.index_lag is not None else None
        if isinstance(body, list):
            answers = [await self._one(item, head) for item in body]
            return web.json_response(answers)
        return web.json_response(await self._one(body, head))

    async def _upstream(self, call: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        async with self._session.post(self.upstream_http, json=call) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
            return answer

    async def _head(self) -> int:
        answer = await self._upstream({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})
        return int(answer["result"], 16)

    async def _one(self, call: dict[str, Any], head: int | None) -> dict[str, Any]:
        method = call.get("method")
        if method in self.refuse_methods:
            self.counters.refused_calls += 1
            error = {"code": -32601, "message": f"the method {method} does not exist/is not available"}
            return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
        faked = self._fault(call)
        if faked is not None:
            return faked
        answer = await self._upstream(call)
        if head is not None and self.index_lag is not None:
            answer = self._lagging_index(call, answer, head - self.index_lag)
        if method == "eth_getBlockByNumber" and isinstance(answer.get("result"), dict):
            header = answer["result"]
            if int(header["number"], 16) in self.saturated_blooms:
                self.counters.saturated_headers += 1
                answer = {**answer, "result": {**header, "logsBloom": "0x" + "f" * 512}}
        return answer

    def _lagging_index(self, call: dict[str, Any], answer: dict[str, Any], indexed: int) -> dict[str, Any]:
        """Withhold what a log index that has reached only block ``indexed`` does not hold yet."""
        method, params, result = call.get("method"), call.get("params") or [], answer.get("result")
        if method == "eth_getLogs" and isinstance(result, list):
            to_block = params[0].get("toBlock", "latest") if params else "latest"
            if to_block == "latest" or int(to_block, 16) > indexed:
                if result:
                    self.counters.empty_log_answers += 1
                    self.counters.hidden_keys.update((log["transactionHash"], log["logIndex"]) for log in result)
                    self.counters.hidden_logs = len(self.counters.hidden_keys)
                return {**answer, "result": []}
        receipts: list[dict[str, Any]] = []
        if method == "eth_getBlockReceipts" and isinstance(result, list):
            receipts = result
        elif method == "eth_getTransactionReceipt" and isinstance(result, dict):
            receipts = [result]
        late = [r for r in receipts if int(r["blockNumber"], 16) > indexed]
        if not late or self.receipts_fault is None:
            return answer
        if self.receipts_fault == "null":
            self.counters.null_receipts += 1
            return {**answer, "result": None}
        hidden = self.hidden_address.lower()
        stripped = [{**r, "logs": [x for x in r["logs"] if x["address"].lower() != hidden]} for r in receipts]
        self.counters.stripped_receipt_logs += sum(len(r["logs"]) for r in receipts) - sum(
            len(r["logs"]) for r in stripped
        )
        return {**answer, "result": stripped if method == "eth_getBlockReceipts" else stripped[0]}

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
