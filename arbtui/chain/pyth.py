"""Pyth prices read inside a fill's transaction, recovered from its call trace.

``debug_traceTransaction(tx, {"tracer": "callTracer"})`` gives a tree of frames. A Pyth read is a frame
whose ``to`` is the configured Pyth address, whose input starts with one of :data:`PRICE_SELECTORS`,
which is not a ``DELEGATECALL`` (the real Pyth sits behind a proxy: only the outer call counts) and
which has an ``output`` (a reverted frame carries ``error`` instead and is ignored). The output is the
ABI-encoded ``Price = (int64 price, uint64 conf, int32 expo, uint256 publishTime)``.

Enrichment never blocks or fails a fill: no call, no debug namespace, a timeout or malformed output all
yield ``Enrich(pyth_price=None, detail=<why>)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from arbtui.chain import abi
from arbtui.chain.rpc import ChainRpcError, JsonRpcClient, RpcResponseError
from arbtui.domain.onchain_trade import Enrich, PythPrice
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.values import Symbol

PRICE_SELECTORS: dict[str, str] = {
    "0xa4ae35e0": "getPriceNoOlderThan",
    "0x96834ad3": "getPriceUnsafe",
    "0x711a2e28": "getEmaPriceNoOlderThan",
    "0x9474f45b": "getEmaPriceUnsafe",
    "0x31d98b3f": "getPrice",
    "0xb5dcc911": "getEmaPrice",
}
_PRICE_TYPES = abi.function_output_types("getPriceUnsafe", abi.PYTH)


class PythFailure(StrEnum):
    NO_DEBUG_NAMESPACE = "no_debug_namespace"
    TIMEOUT = "timeout"
    MALFORMED_TRACE = "malformed_trace"
    TRANSPORT = "transport"


class PythTraceError(Exception):
    """The trace could not be obtained or read. Carries the transaction and a :class:`PythFailure`."""

    def __init__(self, tx_hash: str, failure: PythFailure, message: str) -> None:
        super().__init__(f"tx {tx_hash}: {failure}: {message}")
        self.tx_hash = tx_hash
        self.failure = failure


@dataclass(frozen=True)
class PythConfig:
    address: str
    feeds: Mapping[str, str] = field(default_factory=lambda: dict(KNOWN_FEEDS))
    """Broker ticker → feed id (``0x`` + 64 hex)."""
    timeout: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", self.address.lower())
        object.__setattr__(self, "feeds", {k: v.lower() for k, v in self.feeds.items()})


@dataclass(frozen=True, slots=True)
class PythCall:
    """One successful price read found in a trace, in depth-first order."""

    function: str
    call_type: str
    price: PythPrice


@dataclass(frozen=True)
class PythTrace:
    """Every price read of one transaction, plus frames that matched but could not be read."""

    tx_hash: str
    calls: tuple[PythCall, ...]
    problems: tuple[str, ...] = ()


# --- pure: trace → calls -------------------------------------------------------------------------


def find_pyth_calls(tx_hash: str, trace: object, pyth_address: str) -> PythTrace:
    """Walk the call tree depth-first. Raises :class:`PythTraceError` if it is not a call tree at all."""
    if not isinstance(trace, Mapping):
        raise PythTraceError(tx_hash, PythFailure.MALFORMED_TRACE, f"trace is {type(trace).__name__}, not a frame")
    target = pyth_address.lower()
    calls: list[PythCall] = []
    problems: list[str] = []
    stack: list[tuple[Mapping[str, Any], str]] = [(trace, "0")]
    while stack:
        frame, path = stack.pop()
        children = frame.get("calls") or []
        if not isinstance(children, list):
            raise PythTraceError(tx_hash, PythFailure.MALFORMED_TRACE, f"frame {path}: calls is not a list")
        for index in range(len(children) - 1, -1, -1):  # reversed push = depth-first in call order
            child = children[index]
            if not isinstance(child, Mapping):
                raise PythTraceError(tx_hash, PythFailure.MALFORMED_TRACE, f"frame {path}.{index} is not an object")
            stack.append((child, f"{path}.{index}"))
        found = _price_call(frame, target, path, problems)
        if found is not None:
            calls.append(found)
    return PythTrace(tx_hash, tuple(calls), tuple(problems))


def _price_call(frame: Mapping[str, Any], target: str, path: str, problems: list[str]) -> PythCall | None:
    call_type = str(frame.get("type", "")).upper()
    to = frame.get("to")
    data = frame.get("input")
    if call_type == "DELEGATECALL" or not isinstance(to, str) or to.lower() != target:
        return None
    if not isinstance(data, str) or data[:10].lower() not in PRICE_SELECTORS:
        return None
    if frame.get("error") is not None or frame.get("output") is None:
        return None
    function = PRICE_SELECTORS[data[:10].lower()]
    try:
        feed = bytes.fromhex(data[10:74])
        output = bytes.fromhex(str(frame["output"]).removeprefix("0x"))
        price, conf, expo, publish_time = abi_decode(_PRICE_TYPES, output)[0]
    except (DecodingError, ValueError, OverflowError, TypeError) as exc:
        problems.append(f"frame {path} ({function}): unreadable input/output: {exc}")
        return None
    if len(feed) != 32:
        problems.append(f"frame {path} ({function}): input too short for a feed id")
        return None
    return PythCall(
        function=function,
        call_type=call_type,
        price=PythPrice(
            feed_id="0x" + feed.hex(), value=int(price), conf=int(conf), expo=int(expo), publish_time=int(publish_time)
        ),
    )


def choose_price(trace: PythTrace, symbol: Symbol, feeds: Mapping[str, str]) -> tuple[PythPrice | None, str]:
    """The price for ``symbol``'s feed (first read of it), and a one-line explanation."""
    if not trace.calls:
        extra = f" ({'; '.join(trace.problems)})" if trace.problems else ""
        return None, f"no Pyth price read in tx {trace.tx_hash}{extra}"
    feed = feeds.get(str(symbol))
    if feed is None:
        first = trace.calls[0].price
        return first, f"no feed configured for {symbol}: took the first Pyth read (feed {first.feed_id})"
    matching = [call.price for call in trace.calls if call.price.feed_id == feed]
    if not matching:
        seen = ", ".join(sorted({call.price.feed_id for call in trace.calls}))
        return None, f"no Pyth read of {symbol}'s feed {feed} in tx {trace.tx_hash} (saw {seen})"
    note = f" ({len(matching)} reads of the feed; took the first)" if len(matching) > 1 else ""
    return matching[0], f"Pyth {symbol} from tx {trace.tx_hash}{note}"


# --- I/O -----------------------------------------------------------------------------------------


async def trace_transaction(client: JsonRpcClient, tx_hash: str, config: PythConfig) -> PythTrace:
    """Fetch and read the call trace. Raises :class:`PythTraceError` (typed reason) on any failure."""
    try:
        async with asyncio.timeout(config.timeout):
            trace = await client.call("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    except TimeoutError as exc:
        raise PythTraceError(tx_hash, PythFailure.TIMEOUT, f"no trace within {config.timeout}s") from exc
    except RpcResponseError as exc:
        missing = exc.code == -32601 or "not found" in exc.rpc_message.lower() or "not available" in exc.rpc_message
        failure = PythFailure.NO_DEBUG_NAMESPACE if missing else PythFailure.MALFORMED_TRACE
        raise PythTraceError(tx_hash, failure, str(exc)) from exc
    except ChainRpcError as exc:
        raise PythTraceError(tx_hash, PythFailure.TRANSPORT, str(exc)) from exc
    return find_pyth_calls(tx_hash, trace, config.address)


async def enrichment(
    client: JsonRpcClient, tx_hash: str, symbols: Sequence[Symbol], config: PythConfig
) -> list[Enrich]:
    """One :class:`Enrich` per symbol (fills of one transaction share one trace). Never raises for
    chain trouble: the reason lands in ``detail``. The receipt and the trace are read concurrently."""
    (gas_used, gas_note), trace = await asyncio.gather(
        _gas_used(client, tx_hash), _trace_or_error(client, tx_hash, config)
    )
    if isinstance(trace, PythTraceError):
        return [Enrich(gas_used=gas_used, pyth_price=None, detail=f"{trace}{gas_note}") for _ in symbols]
    results: list[Enrich] = []
    for symbol in symbols:
        price, detail = choose_price(trace, symbol, config.feeds)
        results.append(Enrich(gas_used=gas_used, pyth_price=price, detail=detail + gas_note))
    return results


async def _gas_used(client: JsonRpcClient, tx_hash: str) -> tuple[int | None, str]:
    """Gas used by the transaction, or None and a note saying why it is unknown."""
    try:
        receipt = await client.call("eth_getTransactionReceipt", [tx_hash])
        return (int(str(receipt["gasUsed"]), 16) if isinstance(receipt, Mapping) else None), ""
    except (ChainRpcError, KeyError, ValueError) as exc:
        return None, f"; gas unknown: {exc}"


async def _trace_or_error(client: JsonRpcClient, tx_hash: str, config: PythConfig) -> PythTrace | PythTraceError:
    try:
        return await trace_transaction(client, tx_hash, config)
    except PythTraceError as exc:
        return exc


async def get_pyth_prices(rpc_url: str, tx_hash: str, config: PythConfig) -> PythTrace:
    """Every Pyth price read in ``tx_hash`` — for ``arbtui get-pyth-price TX_HASH``.
    Raises :class:`PythTraceError` with the reason when the trace cannot be had."""
    client = JsonRpcClient(rpc_url, timeout=config.timeout + 1)
    try:
        return await trace_transaction(client, tx_hash.lower(), config)
    finally:
        await client.close()


def format_pyth_prices(trace: PythTrace, feeds: Mapping[str, str] = KNOWN_FEEDS) -> str:
    """The text ``get-pyth-price`` prints: one block per price read, or one clear line when none."""
    if not trace.calls:
        lines = [f"No Pyth price read found in transaction {trace.tx_hash}."]
        lines += [f"  note: {problem}" for problem in trace.problems]
        return "\n".join(lines)
    by_feed = {feed.lower(): symbol for symbol, feed in feeds.items()}
    lines = [f"{len(trace.calls)} Pyth price read(s) in transaction {trace.tx_hash}:"]
    for number, call in enumerate(trace.calls, start=1):
        price = call.price
        symbol = by_feed.get(price.feed_id, "unknown feed")
        lines += [
            f"[{number}] {call.function} ({call.call_type}) feed {price.feed_id} ({symbol})",
            f"    price        {price.price:f}",
            f"    confidence   ±{price.confidence:f}",
            f"    raw          value={price.value} conf={price.conf} expo={price.expo}",
            f"    publish time {price.publish_time}",
        ]
    lines += [f"  note: {problem}" for problem in trace.problems]
    return "\n".join(lines)
