"""Pyth prices read inside a fill's transaction, recovered from its call trace.

``debug_traceTransaction(tx, {"tracer": "callTracer"})`` gives a tree of frames. A Pyth read is a frame
whose ``to`` is the configured Pyth address, whose input starts with one of :data:`PRICE_SELECTORS`,
which is not a ``DELEGATECALL`` (the real Pyth sits behind a proxy: only the outer call counts) and
which has an ``output`` (a reverted frame carries ``error`` instead and is ignored). The output is the
ABI-encoded ``Price = (int64 price, uint64 conf, int32 expo, uint256 publishTime)``.

Without a tracer (many providers have no debug namespace) the price can be read with a historic
``eth_call`` of ``getPriceUnsafe(feed)`` at the fill's block: the price at the **end** of that block (a
later update in the same block wins). ``PythConfig.method`` chooses (:class:`PythReadMode`): ``trace``
only, ``eth_call`` only, or ``auto`` — the trace, then the ``eth_call`` when the trace cannot be had or
holds no read of the fill's feed. Each price records the method that produced it
(:class:`~arbtui.domain.onchain_trade.PythMethod`: ``trace`` / ``block_end``).

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
from arbtui.domain.onchain_trade import Enrich, PythMethod, PythPrice
from arbtui.domain.pyth_feeds import KNOWN_FEEDS, PythReadMode
from arbtui.domain.values import Symbol

PRICE_SELECTORS: dict[str, str] = {
    "0xa4ae35e0": "getPriceNoOlderThan",
    "0x96834ad3": "getPriceUnsafe",
    "0x711a2e28": "getEmaPriceNoOlderThan",
    "0x9474f45b": "getEmaPriceUnsafe",
    "0x31d98b3f": "getPrice",
    "0xb5dcc911": "getEmaPrice",
}
GET_PRICE_UNSAFE = "0x96834ad3"
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
    method: PythReadMode = PythReadMode.AUTO
    """``trace``, ``eth_call`` or ``auto`` (see the module docs)."""

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


@dataclass(frozen=True)
class BlockEndPrices:
    """``getPriceUnsafe`` of feeds at the end of a transaction's block (no trace, or no read in it)."""

    tx_hash: str
    block_number: int
    reason: str
    """Why the trace was not used."""
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
            feed_id="0x" + feed.hex(),
            value=int(price),
            conf=int(conf),
            expo=int(expo),
            publish_time=int(publish_time),
            method=PythMethod.TRACE,
        ),
    )


def block_end_price(feed_id: str, answer: object) -> PythPrice | str:
    """Pure: the ``getPriceUnsafe`` answer (hex data, or the node's error) as a block-end price, or why not."""
    if isinstance(answer, RpcResponseError):
        return f"getPriceUnsafe({feed_id}) failed: {answer}"
    try:
        output = bytes.fromhex(str(answer).removeprefix("0x"))
        price, conf, expo, publish_time = abi_decode(_PRICE_TYPES, output)[0]
    except (DecodingError, ValueError, OverflowError, TypeError) as exc:
        return f"getPriceUnsafe({feed_id}) answer unreadable: {exc}"
    return PythPrice(
        feed_id=feed_id.lower(),
        value=int(price),
        conf=int(conf),
        expo=int(expo),
        publish_time=int(publish_time),
        method=PythMethod.BLOCK_END,
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
    client: JsonRpcClient,
    tx_hash: str,
    symbols: Sequence[Symbol],
    config: PythConfig,
    block_number: int | None = None,
) -> list[Enrich]:
    """One :class:`Enrich` per symbol (fills of one transaction share one trace and one block). Never
    raises for chain trouble: the reason lands in ``detail``. The receipt and the trace are read
    concurrently; the block-end reads (``block_number`` needed) in one batch after them."""
    if config.method is PythReadMode.ETH_CALL:
        gas_used, gas_note = await _gas_used(client, tx_hash)
        trace: PythTrace | PythTraceError | None = None
    else:
        (gas_used, gas_note), trace = await asyncio.gather(
            _gas_used(client, tx_hash), _trace_or_error(client, tx_hash, config)
        )
    found: list[tuple[PythPrice | None, str]] = []
    for symbol in symbols:
        if trace is None:
            found.append((None, "method eth_call"))
        elif isinstance(trace, PythTraceError):
            found.append((None, str(trace)))
        else:
            found.append(choose_price(trace, symbol, config.feeds))
    if config.method is not PythReadMode.TRACE:
        found = await _block_end_fallback(client, tx_hash, symbols, config, block_number, found)
    return [Enrich(gas_used=gas_used, pyth_price=price, detail=detail + gas_note) for price, detail in found]


async def _block_end_fallback(
    client: JsonRpcClient,
    tx_hash: str,
    symbols: Sequence[Symbol],
    config: PythConfig,
    block_number: int | None,
    found: list[tuple[PythPrice | None, str]],
) -> list[tuple[PythPrice | None, str]]:
    """``getPriceUnsafe`` at the end of the block for each symbol the trace gave no price for."""
    wanted = [i for i, (price, _) in enumerate(found) if price is None]
    if not wanted:
        return found
    result = list(found)
    if block_number is None:
        for i in wanted:
            result[i] = (None, f"{found[i][1]}; no block number for a block-end read")
        return result
    feeds = {i: config.feeds.get(str(symbols[i])) for i in wanted}
    calls = [i for i in wanted if feeds[i] is not None]
    for i in wanted:
        if feeds[i] is None:
            result[i] = (None, f"{found[i][1]}; no feed configured for {symbols[i]}: no block-end read")
    if not calls:
        return result
    try:
        async with asyncio.timeout(config.timeout):
            answers = await client.batch([_price_call_at(config.address, str(feeds[i]), block_number) for i in calls])
    except (TimeoutError, ChainRpcError) as exc:
        for i in calls:
            result[i] = (None, f"{found[i][1]}; block-end read failed: {exc or type(exc).__name__}")
        return result
    for i, answer in zip(calls, answers, strict=True):
        read = block_end_price(str(feeds[i]), answer)
        why = found[i][1]
        if isinstance(read, str):
            result[i] = (None, f"{why}; {read} at block {block_number}")
        else:
            result[i] = (read, f"Pyth {symbols[i]} at the end of block {block_number} (getPriceUnsafe; {why})")
    return result


def _price_call_at(pyth: str, feed_id: str, block_number: int) -> tuple[str, list[object]]:
    return ("eth_call", [{"to": pyth, "data": GET_PRICE_UNSAFE + feed_id.removeprefix("0x")}, hex(block_number)])


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


async def read_pyth_prices(
    rpc_url: str, tx_hash: str, config: PythConfig
) -> tuple[PythTrace | None, BlockEndPrices | None]:
    """What ``arbtui get-pyth-price TX_HASH`` shows, by ``config.method``: the trace's reads, and — with
    ``eth_call``, or ``auto`` when the trace cannot be had or holds no read — every configured feed's price
    at the end of the transaction's block. Raises :class:`PythTraceError` when neither can be had."""
    client = JsonRpcClient(rpc_url, timeout=config.timeout + 1)
    tx_hash = tx_hash.lower()
    try:
        trace: PythTrace | None = None
        if config.method is PythReadMode.ETH_CALL:
            reason = "method eth_call"
        else:
            try:
                trace = await trace_transaction(client, tx_hash, config)
            except PythTraceError as exc:
                if config.method is PythReadMode.TRACE:
                    raise
                reason = f"no trace: {exc}"
            else:
                if trace.calls or config.method is PythReadMode.TRACE:
                    return trace, None
                reason = "the trace holds no Pyth read"
        block_number = await _block_of(client, tx_hash)
        symbols = sorted(config.feeds)
        try:
            answers = await client.batch(
                [_price_call_at(config.address, config.feeds[s], block_number) for s in symbols]
            )
        except ChainRpcError as exc:
            raise PythTraceError(tx_hash, PythFailure.TRANSPORT, f"block-end reads failed: {exc}") from exc
        calls: list[PythCall] = []
        missing: list[str] = []
        for symbol, answer in zip(symbols, answers, strict=True):
            read = block_end_price(config.feeds[symbol], answer)
            if isinstance(read, str):
                missing.append(symbol)
            else:
                calls.append(PythCall(function="getPriceUnsafe", call_type="eth_call", price=read))
        problems = (f"no price at that block for {', '.join(missing)}",) if missing else ()
        return trace, BlockEndPrices(tx_hash, block_number, reason, tuple(calls), problems)
    finally:
        await client.close()


async def _block_of(client: JsonRpcClient, tx_hash: str) -> int:
    try:
        receipt = await client.call("eth_getTransactionReceipt", [tx_hash])
        if not isinstance(receipt, Mapping):
            raise PythTraceError(tx_hash, PythFailure.TRANSPORT, "the node knows no receipt of it")
        return int(str(receipt["blockNumber"]), 16)
    except (ChainRpcError, KeyError, ValueError) as exc:
        raise PythTraceError(tx_hash, PythFailure.TRANSPORT, f"its block is unknown: {exc}") from exc


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
            "    method       trace (the read the transaction made)",
            f"    price        {price.price:f}",
            f"    confidence   ±{price.confidence:f}",
            f"    raw          value={price.value} conf={price.conf} expo={price.expo}",
            f"    publish time {price.publish_time}",
        ]
    lines += [f"  note: {problem}" for problem in trace.problems]
    return "\n".join(lines)


def format_block_end_prices(prices: BlockEndPrices, feeds: Mapping[str, str] = KNOWN_FEEDS) -> str:
    """The block-end part of ``get-pyth-price``'s output: one block per feed that has a price."""
    by_feed = {feed.lower(): symbol for symbol, feed in feeds.items()}
    lines = [
        f"Pyth prices at the end of block {prices.block_number} of transaction {prices.tx_hash} ({prices.reason}):"
    ]
    if not prices.calls:
        lines.append("  none of the configured feeds has a price at that block")
    for number, call in enumerate(prices.calls, start=1):
        price = call.price
        lines += [
            f"[{number}] getPriceUnsafe (eth_call at block {prices.block_number}) feed {price.feed_id}"
            f" ({by_feed.get(price.feed_id, 'unknown feed')})",
            "    method       block_end (the price at the end of the block, not necessarily the one the"
            " transaction read)",
            f"    price        {price.price:f}",
            f"    confidence   ±{price.confidence:f}",
            f"    raw          value={price.value} conf={price.conf} expo={price.expo}",
            f"    publish time {price.publish_time}",
        ]
    lines += [f"  note: {problem}" for problem in prices.problems]
    return "\n".join(lines)
