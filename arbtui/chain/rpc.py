"""A small JSON-RPC client over HTTP (aiohttp) with batches: several calls, one round trip.

A batch is not trusted to be answered by one node: a provider may send its parts to different nodes, and
a node may know a header before its log index holds the block's logs — so intake verifies log answers
against the headers' blooms and the blocks' receipts (:mod:`arbtui.chain.verify`).

Errors::

    ChainRpcError
    ├── RpcTransportError     connection refused/reset, timeout, HTTP status, unparseable body
    └── RpcResponseError      the node answered with a JSON-RPC error object (code, message, data)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp


class ChainRpcError(Exception):
    """A JSON-RPC call failed."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method


class RpcTransportError(ChainRpcError):
    """The node could not be reached or answered garbage: retryable."""


class RpcResponseError(ChainRpcError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str, data: object = None) -> None:
        super().__init__(method, f"error {code}: {message}" + (f" ({data!r:.200})" if data else ""))
        self.code = code
        self.rpc_message = message
        self.data = data

    @property
    def is_revert(self) -> bool:
        """The call executed and reverted (EIP-1474 code 3, or a node's -32000 ``execution reverted``)."""
        return self.code == 3 or "revert" in self.rpc_message.lower()


Call = tuple[str, Sequence[object]]


def endpoint_name(url: str) -> str:
    """A node's name fit for an alert or a log line: scheme, host and port only (hosted providers put
    the API key in the path or the user part of the URL)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "node"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class JsonRpcClient:
    """HTTP JSON-RPC client. Create inside a running loop; ``await close()`` when done."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self._ids = itertools.count(1)
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(limit=8),
            json_serialize=json.dumps,
        )

    async def close(self) -> None:
        await self._session.close()

    async def call(self, method: str, params: Sequence[object] = ()) -> Any:
        answer = await self._post(
            method, {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        if not isinstance(answer, dict):
            raise RpcTransportError(method, f"expected a JSON object, got {type(answer).__name__}")
        return _result(method, answer)

    async def batch(self, calls: Sequence[Call]) -> list[Any | RpcResponseError]:
        """Every call in one HTTP request; per-call JSON-RPC errors are returned, not raised."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": method, "params": list(params)}
            for i, (method, params) in zip(ids, calls, strict=True)
        ]
        label = "batch(" + ",".join(method for method, _ in calls[:3]) + ("…)" if len(calls) > 3 else ")")
        answer = await self._post(label, payload)
        if isinstance(answer, dict):  # some nodes answer a whole batch with one error object
            raise RpcTransportError(label, f"batch refused: {answer.get('error')!r:.300}")
        if not isinstance(answer, list):
            raise RpcTransportError(label, "batch answer is not a list")
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        results: list[Any | RpcResponseError] = []
        for i, (method, _) in zip(ids, calls, strict=True):
            item = by_id.get(i)
            if item is None:
                raise RpcTransportError(label, f"batch answer lacks id {i} ({method})")
            try:
                results.append(_result(method, item))
            except RpcResponseError as exc:
                results.append(exc)
        return results

    async def _post(self, label: str, payload: object) -> Any:
        try:
            async with self._session.post(self.url, json=payload) as response:
                if response.status != 200:
                    text = await response.text()
                    raise RpcTransportError(label, f"HTTP {response.status}: {text[:200]}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise RpcTransportError(label, f"{type(exc).__name__}: {exc}") from exc


def _result(method: str, answer: dict[str, Any]) -> Any:
    error = answer.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise RpcTransportError(method, f"malformed error object {error!r:.200}")
        raise RpcResponseError(method, int(error.get("code", 0)), str(error.get("message", "")), error.get("data"))
    if "result" not in answer:
        raise RpcTransportError(method, "answer has neither result nor error")
    return answer["result"]
