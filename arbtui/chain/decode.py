"""Raindex orderbook logs → fills of *our* orders. Pure: no I/O, no clock, no logging.

Two steps, so the token reads (I/O, :mod:`arbtui.chain.tokens`) happen between them:

1. :func:`extract_sides` parses a block range's logs and keeps every order side that belongs to the
   configured owner (:class:`OrderSide`: what our order received and gave, with the IO entries), pairing
   each ``ClearV2`` with the ``AfterClear`` that follows it in the same transaction. An orderbook log
   that cannot be parsed becomes a :class:`SkippedFill` at once.
2. :func:`build_fill` turns one side plus the ERC-20 facts of its two tokens into an
   :class:`OnChainFill` — or a :class:`SkippedFill` naming the reason. Nothing is silently dropped.

Sign rules (RAINDEX.md): ``TakeOrderV2``'s ``input``/``output`` are the **taker's**, so our order gave
the event's ``input`` and received its ``output``. Our order received USDC and gave equity = SELL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from arbtui.chain import abi, abi_words
from arbtui.domain.onchain_trade import OnChainFill, SkippedFill, SkipReason
from arbtui.domain.values import (
    MAX_TOKEN_DECIMALS,
    Direction,
    InvalidSymbol,
    PriceUsdc,
    Shares,
    Symbol,
    TradeId,
    Usdc,
)

TAKE_ORDER_V2 = abi.event_topic("TakeOrderV2")
TAKE_ORDER_V2_BYTES32 = "0x" + abi.keccak_text(abi.TAKE_ORDER_V2_BYTES32_SIGNATURE)
CLEAR_V2 = abi.event_topic("ClearV2")
AFTER_CLEAR = abi.event_topic("AfterClear")
TAKE_ORDER_TOPICS = frozenset({TAKE_ORDER_V2, TAKE_ORDER_V2_BYTES32})
INTAKE_TOPICS: tuple[str, ...] = (TAKE_ORDER_V2, TAKE_ORDER_V2_BYTES32, CLEAR_V2, AFTER_CLEAR)
"""topic0 values intake subscribes to and polls for (one OR-set in position 0)."""

_TAKE_TYPES = abi.event_data_types("TakeOrderV2")
_CLEAR_TYPES = abi.event_data_types("ClearV2")
_AFTER_CLEAR_TYPES = abi.event_data_types("AfterClear")
_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")
_HASH = re.compile(r"^0x[0-9a-f]{64}$")


class DecodeError(ValueError):
    """A node answered with a log envelope we cannot even identify (no tx hash, bad block number…).

    Not a skippable fill — there is no trade id to record it under — but an error of the node/transport.
    """


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SymbolMarkers:
    """How a tokenized-equity symbol marks its broker ticker: ``tAAPL``, ``AAPL0x``, ``NVDAs1``, and the
    ERC-4626 wrappers ``wtAAPL`` (a wrapped marker: the token must be a vault, see
    :mod:`arbtui.chain.wrapped`)."""

    prefixes: tuple[str, ...] = ("t",)
    suffixes: tuple[str, ...] = ("0x", "s1")
    wrapped_prefixes: tuple[str, ...] = ("wt",)

    def is_wrapped(self, token_symbol: str) -> bool:
        """Whether ``token_symbol`` carries a wrapped-equity marker (its token must be an ERC-4626 vault)."""
        return any(prefix and token_symbol.startswith(prefix) for prefix in self.wrapped_prefixes)

    def ticker(self, token_symbol: str) -> Symbol:
        """The broker ticker behind ``token_symbol``; exactly one marker must apply and leave a valid
        ticker (lesson 5: a leading lower-case ``t`` alone proves nothing). Raises ``InvalidSymbol``."""
        candidates: set[str] = set()
        for prefix in (*self.prefixes, *self.wrapped_prefixes):
            if prefix and token_symbol.startswith(prefix):
                candidates.add(token_symbol[len(prefix) :])
        for suffix in self.suffixes:
            if suffix and token_symbol.endswith(suffix):
                candidates.add(token_symbol[: -len(suffix)])
        valid: list[Symbol] = []
        for base in sorted(candidates):
            try:
                valid.append(Symbol(base))
            except InvalidSymbol:
                continue
        if len(valid) != 1:
            why = "no marker leaves a valid ticker" if not valid else f"ambiguous: {', '.join(valid)}"
            raise InvalidSymbol(f"unsupported tokenized symbol {token_symbol!r} ({why})")
        return valid[0]


@dataclass(frozen=True)
class DecodeConfig:
    """Whose fills we want and how to read them. Addresses in any case; kept lower-case."""

    orderbook: str
    owner: str
    usdc: str
    markers: SymbolMarkers = field(default_factory=SymbolMarkers)

    def __post_init__(self) -> None:
        for name in ("orderbook", "owner", "usdc"):
            value = getattr(self, name)
            lowered = value.lower() if isinstance(value, str) else value
            if not isinstance(lowered, str) or not _ADDRESS.fullmatch(lowered):
                raise ValueError(f"{name} must be a 20-byte hex address, got {value!r}")
            object.__setattr__(self, name, lowered)


# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawLog:
    """One log as the node gave it, envelope validated; ``data`` still raw."""

    address: str
    topics: tuple[str, ...]
    data: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    block_timestamp: int | None = None
    removed: bool = False

    @classmethod
    def from_rpc(cls, obj: Mapping[str, Any]) -> RawLog:
        """From a JSON-RPC log object (hex strings). Raises :class:`DecodeError` on a broken envelope."""
        try:
            data_hex = str(obj["data"])
            stamp = obj.get("blockTimestamp")
            log = cls(
                address=str(obj["address"]).lower(),
                topics=tuple(str(t).lower() for t in obj["topics"]),
                data=bytes.fromhex(data_hex[2:] if data_hex.startswith("0x") else data_hex),
                block_number=int(str(obj["blockNumber"]), 16),
                block_hash=str(obj["blockHash"]).lower(),
                tx_hash=str(obj["transactionHash"]).lower(),
                log_index=int(str(obj["logIndex"]), 16),
                block_timestamp=int(str(stamp), 16) if stamp is not None else None,
                removed=bool(obj.get("removed", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(f"malformed log envelope from node: {exc!r} in {dict(obj)!r:.300}") from exc
        if not (_HASH.fullmatch(log.tx_hash) and _HASH.fullmatch(log.block_hash)):
            raise DecodeError(f"malformed tx/block hash in log: {log.tx_hash!r} {log.block_hash!r}")
        return log

    def trade_id(self, leg: int = 0) -> TradeId:
        return TradeId(self.tx_hash, self.log_index, leg)

    def where(self) -> str:
        return f"tx {self.tx_hash} log {self.log_index} block {self.block_number}"


@dataclass(frozen=True, slots=True)
class IOEntry:
    token: str
    decimals: int
    vault_id: int


@dataclass(frozen=True, slots=True)
class OrderSide:
    """Our order's side of one fill: what it received (input) and gave (output), in base units."""

    trade_id: TradeId
    log: RawLog
    source_event: Literal["TakeOrderV2", "ClearV2"]
    received: IOEntry
    received_raw: int
    gave: IOEntry
    gave_raw: int

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.received.token, self.gave.token)


class TokenProblem(StrEnum):
    NO_CONTRACT = "no_contract"
    SYMBOL_REVERTED = "symbol_reverted"
    SYMBOL_MALFORMED = "symbol_malformed"
    DECIMALS_REVERTED = "decimals_reverted"
    DECIMALS_MALFORMED = "decimals_malformed"


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What the token's ERC-20 calls answered (see :mod:`arbtui.chain.tokens`)."""

    address: str
    symbol: str | None
    decimals: int | None
    problems: tuple[TokenProblem, ...] = ()
    detail: str = ""


# --- step 1: logs → our order sides ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Order:
    owner: str
    inputs: tuple[IOEntry, ...]
    outputs: tuple[IOEntry, ...]


class _MalformedLogError(ValueError):
    pass


def _order(raw: Any) -> _Order:
    owner, _evaluable, inputs, outputs, _nonce = raw
    return _Order(
        owner=str(owner).lower(),
        inputs=tuple(IOEntry(str(t).lower(), int(d), int(v)) for t, d, v in inputs),
        outputs=tuple(IOEntry(str(t).lower(), int(d), int(v)) for t, d, v in outputs),
    )


def _io(entries: tuple[IOEntry, ...], index: int, what: str) -> IOEntry:
    if not 0 <= index < len(entries):
        raise _MalformedLogError(f"{what} IO index {index} out of range ({len(entries)} entries)")
    return entries[index]


def _decode(types: list[str], log: RawLog, name: str) -> tuple[Any, ...]:
    if len(log.topics) != 1:
        raise _MalformedLogError(f"{name} must carry exactly 1 topic (no indexed params), got {len(log.topics)}")
    try:
        return abi_words.decode(types, log.data)
    except (DecodingError, OverflowError, ValueError) as exc:
        raise _MalformedLogError(f"{name} data does not decode ({len(log.data)} bytes): {exc}") from exc


def _skip(log: RawLog, reason: SkipReason, detail: str, leg: int = 0) -> SkippedFill:
    return SkippedFill(
        trade_id=log.trade_id(leg),
        block_number=log.block_number,
        block_hash=log.block_hash,
        reason=reason,
        detail=f"{detail} ({log.where()})",
    )


def _take_sides(log: RawLog, owner: str) -> list[OrderSide]:
    _sender, config, taker_input, taker_output = _decode(_TAKE_TYPES, log, "TakeOrderV2")
    raw_order, input_index, output_index, _signed = config
    taken = _order(raw_order)
    if taken.owner != owner:
        return []
    # The taker's input is what our order gave (its output); the taker's output is what it received.
    return [
        OrderSide(
            trade_id=log.trade_id(),
            log=log,
            source_event="TakeOrderV2",
            received=_io(taken.inputs, int(input_index), "input"),
            received_raw=int(taker_output),
            gave=_io(taken.outputs, int(output_index), "output"),
            gave_raw=int(taker_input),
        )
    ]


def _clear_sides(log: RawLog, after: RawLog, owner: str) -> list[OrderSide]:
    _sender, raw_alice, raw_bob, clear_config = _decode(_CLEAR_TYPES, log, "ClearV2")
    alice, bob = _order(raw_alice), _order(raw_bob)
    alice_in_i, alice_out_i, bob_in_i, bob_out_i, _alice_bounty, _bob_bounty = (int(x) for x in clear_config)
    _after_sender, change = _decode(_AFTER_CLEAR_TYPES, after, "AfterClear")
    alice_output, bob_output, alice_input, bob_input = (int(x) for x in change)
    both = alice.owner == owner and bob.owner == owner
    sides: list[OrderSide] = []
    if alice.owner == owner:
        sides.append(
            OrderSide(
                trade_id=log.trade_id(0),
                log=log,
                source_event="ClearV2",
                received=_io(alice.inputs, alice_in_i, "alice input"),
                received_raw=alice_input,
                gave=_io(alice.outputs, alice_out_i, "alice output"),
                gave_raw=alice_output,
            )
        )
    if bob.owner == owner:
        sides.append(
            OrderSide(
                trade_id=log.trade_id(1 if both else 0),
                log=log,
                source_event="ClearV2",
                received=_io(bob.inputs, bob_in_i, "bob input"),
                received_raw=bob_input,
                gave=_io(bob.outputs, bob_out_i, "bob output"),
                gave_raw=bob_output,
            )
        )
    return sides


def _clear_owners(log: RawLog) -> tuple[str, str]:
    _sender, raw_alice, raw_bob, _config = _decode(_CLEAR_TYPES, log, "ClearV2")
    return _order(raw_alice).owner, _order(raw_bob).owner


def extract_sides(logs: Iterable[RawLog], config: DecodeConfig) -> tuple[list[OrderSide], list[SkippedFill]]:
    """Our order sides in chain order, and skips for orderbook logs that cannot be parsed.

    ``logs`` must hold whole blocks (an ``AfterClear`` is looked for in the same transaction only).
    Logs of other contracts, other topics and other owners are ignored. An unparseable log of the
    orderbook with one of our topics is recorded as skipped: its owner cannot be known, so it is kept
    for the operator rather than dropped. ``AfterClear`` logs are consumed by their ``ClearV2``.
    """
    ordered = sorted(
        (log for log in logs if log.address == config.orderbook and log.topics and not log.removed),
        key=lambda log: (log.block_number, log.log_index),
    )
    sides: list[OrderSide] = []
    skips: list[SkippedFill] = []
    for position, log in enumerate(ordered):
        topic = log.topics[0]
        try:
            if topic in TAKE_ORDER_TOPICS:
                sides.extend(_take_sides(log, config.owner))
            elif topic == CLEAR_V2:
                after = _following_after_clear(ordered, position)
                if after is None:
                    alice_owner, bob_owner = _clear_owners(log)
                    ours = [who for who in (alice_owner, bob_owner) if who == config.owner]
                    for leg in range(len(ours)):
                        skips.append(
                            _skip(
                                log,
                                SkipReason.MISSING_AFTER_CLEAR,
                                "ClearV2 without a following AfterClear",
                                leg,
                            )
                        )
                    continue
                sides.extend(_clear_sides(log, after, config.owner))
        except _MalformedLogError as exc:
            skips.append(_skip(log, SkipReason.MALFORMED_LOG, str(exc)))
    return sides, skips


def bloom_bits(item: str) -> tuple[int, ...]:
    """The three bits a log's address or topic (``0x`` hex) sets in a block's ``logsBloom`` (yellow paper
    M3:2048: the low 11 bits of byte pairs 0-1, 2-3, 4-5 of its keccak256)."""
    digest = keccak(bytes.fromhex(item.removeprefix("0x")))
    return tuple(((digest[i] << 8) | digest[i + 1]) & 2047 for i in (0, 2, 4))


def clears_complete(logs: Iterable[RawLog]) -> bool:
    """Every ``ClearV2`` among ``logs`` has its ``AfterClear`` among them, and every ``AfterClear`` its
    ``ClearV2``: a part of a block's logs (e.g. from notifications) can be decoded on its own."""
    ordered = sorted(logs, key=lambda log: (log.block_number, log.log_index))
    consumed: set[int] = set()
    for position, log in enumerate(ordered):
        if log.topics and log.topics[0] == CLEAR_V2:
            after = _following_after_clear(ordered, position)
            if after is None:
                return False
            consumed.add(id(after))
    return all(id(log) in consumed for log in ordered if log.topics and log.topics[0] == AFTER_CLEAR)


def _following_after_clear(ordered: Sequence[RawLog], position: int) -> RawLog | None:
    clear = ordered[position]
    for candidate in ordered[position + 1 :]:
        if candidate.tx_hash != clear.tx_hash or candidate.block_number != clear.block_number:
            return None
        if candidate.topics and candidate.topics[0] == CLEAR_V2:
            return None  # the next clear of the same transaction came first: ours has no AfterClear
        if candidate.topics and candidate.topics[0] == AFTER_CLEAR:
            return candidate
    return None


# --- step 2: one side + token facts → fill or skip ---------------------------------------------


def tokens_needed(sides: Iterable[OrderSide]) -> set[str]:
    return {token for side in sides for token in side.tokens}


def build_fill(side: OrderSide, tokens: Mapping[str, TokenFacts], config: DecodeConfig) -> OnChainFill | SkippedFill:
    """The fill for ``side``, or the reason it cannot be one. ``tokens`` must hold both of its tokens."""
    log, leg = side.log, side.trade_id.leg

    def skip(reason: SkipReason, detail: str) -> SkippedFill:
        return _skip(log, reason, detail, leg)

    received_usdc = side.received.token == config.usdc
    gave_usdc = side.gave.token == config.usdc
    if received_usdc == gave_usdc:
        return skip(
            SkipReason.NON_USDC_PAIR,
            f"pair {side.received.token}/{side.gave.token} must have exactly one side = USDC {config.usdc}",
        )
    if received_usdc:  # our order received USDC and gave equity: we sold onchain
        direction, usdc_io, usdc_raw, equity_io, equity_raw = (
            Direction.SELL, side.received, side.received_raw, side.gave, side.gave_raw,
        )  # fmt: skip
    else:
        direction, usdc_io, usdc_raw, equity_io, equity_raw = (
            Direction.BUY, side.gave, side.gave_raw, side.received, side.received_raw,
        )  # fmt: skip

    problem = _token_problem(tokens.get(equity_io.token), equity_io, "equity") or _token_problem(
        tokens.get(usdc_io.token), usdc_io, "USDC"
    )
    if problem is not None:
        return skip(*problem)
    equity = tokens[equity_io.token]
    assert equity.symbol is not None  # _token_problem checked it
    try:
        ticker = config.markers.ticker(equity.symbol)
    except InvalidSymbol as exc:
        return skip(SkipReason.UNSUPPORTED_SYMBOL, f"{exc} at {equity_io.token}")
    if equity_raw <= 0 or usdc_raw <= 0:
        return skip(SkipReason.ZERO_AMOUNT, f"amounts equity={equity_raw} usdc={usdc_raw} must be positive")

    shares = Shares.from_base_units(equity_raw, equity_io.decimals)
    usdc = Usdc.from_base_units(usdc_raw, usdc_io.decimals)
    if log.block_timestamp is None:
        raise DecodeError(f"block timestamp missing for {log.where()}: intake must supply it")
    return OnChainFill(
        trade_id=side.trade_id,
        symbol=ticker,
        token_symbol=equity.symbol,
        token_address=equity_io.token,
        direction=direction,
        amount=shares,
        usdc_amount=usdc,
        price_usdc=PriceUsdc.per_share(usdc, shares),
        shares_raw=equity_raw,
        share_decimals=equity_io.decimals,
        usdc_raw=usdc_raw,
        usdc_decimals=usdc_io.decimals,
        block_number=log.block_number,
        block_hash=log.block_hash,
        block_timestamp=datetime.fromtimestamp(log.block_timestamp, tz=UTC),
        source_event=side.source_event,
    )


def _token_problem(facts: TokenFacts | None, io: IOEntry, role: str) -> tuple[SkipReason, str] | None:
    where = f"{role} token {io.token}"
    if facts is None:
        return SkipReason.UNKNOWN_TOKEN, f"{where}: no ERC-20 facts available"
    problems = set(facts.problems)
    detail = f": {facts.detail}" if facts.detail else ""
    if TokenProblem.NO_CONTRACT in problems:
        return SkipReason.UNKNOWN_TOKEN, f"{where} has no contract code{detail}"
    if role == "equity" and problems & {TokenProblem.SYMBOL_REVERTED, TokenProblem.SYMBOL_MALFORMED}:
        return SkipReason.SYMBOL_UNREADABLE, f"{where}: symbol() unreadable{detail}"
    if problems & {TokenProblem.DECIMALS_REVERTED, TokenProblem.DECIMALS_MALFORMED} or facts.decimals is None:
        return SkipReason.BAD_DECIMALS, f"{where}: decimals() unreadable{detail}"
    if not 0 <= io.decimals <= MAX_TOKEN_DECIMALS:
        return SkipReason.BAD_DECIMALS, f"{where}: declared decimals {io.decimals} are absurd"
    if not 0 <= facts.decimals <= MAX_TOKEN_DECIMALS:
        return SkipReason.BAD_DECIMALS, f"{where}: decimals() = {facts.decimals} is absurd"
    if facts.decimals != io.decimals:
        return (
            SkipReason.BAD_DECIMALS,
            f"{where}: order declares {io.decimals} decimals, decimals() = {facts.decimals}",
        )
    if role == "equity" and facts.symbol is None:
        return SkipReason.SYMBOL_UNREADABLE, f"{where}: symbol() unreadable{detail}"
    return None


def decode_range(
    logs: Iterable[RawLog], tokens: Mapping[str, TokenFacts], config: DecodeConfig
) -> tuple[list[OnChainFill], list[SkippedFill]]:
    """Both steps for logs whose tokens are already known (tests and callers with a full token map)."""
    sides, skips = extract_sides(logs, config)
    fills: list[OnChainFill] = []
    for side in sides:
        result = build_fill(side, tokens, config)
        if isinstance(result, OnChainFill):
            fills.append(result)
        else:
            skips.append(result)
    return fills, skips
