"""Raindex orderbook logs → fills of *our* orders. Pure: no I/O, no clock, no logging.

Two generations are read side by side, on any number of orderbooks; the log's topic0 says which layout
its data has (there is no version switch anywhere):

============  ==========================================  =============================================
generation    events                                      amounts
============  ==========================================  =============================================
V4            ``TakeOrderV2`` (both signed-context        uint256 base units, in the decimals the order's
              forms), ``ClearV2`` + ``AfterClear``        IO declares (cross-checked with ``decimals()``)
V5 / V6       ``TakeOrderV3``, ``ClearV3`` +              rain ``Float`` (bytes32) in whole-token units;
              ``AfterClearV2``                            IOs carry no decimals: the token's ``decimals()``
============  ==========================================  =============================================

Two steps, so the token reads (I/O, :mod:`arbtui.chain.tokens`) happen between them:

1. :func:`extract_sides` parses a block range's logs and keeps every order side that belongs to the
   configured owner (:class:`OrderSide`: what our order received and gave, with the IO entries), pairing
   each clear with the after-clear event of its generation that follows it in the same transaction from
   the same orderbook. An orderbook log that cannot be parsed becomes a :class:`SkippedFill` at once.
2. :func:`build_fill` turns one side plus the ERC-20 facts of its two tokens into an
   :class:`OnChainFill` — or a :class:`SkippedFill` naming the reason. Nothing is silently dropped. It
   goes through named stages (:func:`classify`, :func:`token_problem`, :func:`base_units`) so that a
   per-token step (e.g. an ERC-4626 wrapper's conversion) can be put between them.

Sign rules (RAINDEX.md): ``TakeOrderV2``/``TakeOrderV3``'s ``input``/``output`` are the **taker's**, so
our order gave the event's ``input`` and received its ``output``. Our order received USDC and gave equity
= SELL.
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
from arbtui.domain.rain_float import FloatAmountError, FloatTooFine, RainFloat
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
TAKE_ORDER_V3 = abi.event_topic("TakeOrderV3", abi.RAINDEX_V6)
CLEAR_V3 = abi.event_topic("ClearV3", abi.RAINDEX_V6)
AFTER_CLEAR_V2 = abi.event_topic("AfterClearV2", abi.RAINDEX_V6)
TAKE_ORDER_TOPICS = frozenset({TAKE_ORDER_V2, TAKE_ORDER_V2_BYTES32, TAKE_ORDER_V3})
AFTER_CLEAR_OF: Mapping[str, str] = {CLEAR_V2: AFTER_CLEAR, CLEAR_V3: AFTER_CLEAR_V2}
"""Each clear event's topic → the topic of the after-clear event that carries its amounts."""
CLEAR_TOPICS = frozenset(AFTER_CLEAR_OF)
AFTER_CLEAR_TOPICS = frozenset(AFTER_CLEAR_OF.values())
INTAKE_TOPICS: tuple[str, ...] = (
    TAKE_ORDER_V2, TAKE_ORDER_V2_BYTES32, CLEAR_V2, AFTER_CLEAR, TAKE_ORDER_V3, CLEAR_V3, AFTER_CLEAR_V2,
)  # fmt: skip
"""topic0 values intake subscribes to and polls for (one OR-set in position 0): every fill event of
every generation read."""

_ORDER_V3 = "(address,(address,address,bytes),(address,uint8,uint256)[],(address,uint8,uint256)[],bytes32)"
_ORDER_V4 = "(address,(address,address,bytes),(address,bytes32)[],(address,bytes32)[],bytes32)"
OTHER_ORDERBOOK_SIGNATURES: tuple[str, ...] = (
    # IOrderBookV4 (and its interpreter-caller and metadata events)
    f"AddOrderV2(address,bytes32,{_ORDER_V3})",
    f"RemoveOrderV2(address,bytes32,{_ORDER_V3})",
    "Deposit(address,address,uint256,uint256)",
    "Withdraw(address,address,uint256,uint256,uint256)",
    "Context(address,uint256[][])",
    # IOrderBookV5 / IRaindexV6
    f"AddOrderV3(address,bytes32,{_ORDER_V4})",
    f"RemoveOrderV3(address,bytes32,{_ORDER_V4})",
    "DepositV2(address,address,bytes32,uint256)",
    "WithdrawV2(address,address,bytes32,bytes32,bytes32,uint256)",
    "ContextV2(address,bytes32[][])",
    # both
    "OrderNotFound(address,address,bytes32)",
    "OrderZeroAmount(address,address,bytes32)",
    "OrderExceedsMaxRatio(address,address,bytes32)",
    "MetaV1(address,uint256,bytes)",
    "MetaV1_2(address,bytes32,bytes)",
)
"""Events an orderbook emits that are not fills (orders, vaults, context, metadata): known, read by
nobody here, and never a reason for an alert."""
KNOWN_ORDERBOOK_TOPICS = frozenset(INTAKE_TOPICS) | frozenset(
    "0x" + abi.keccak_text(signature) for signature in OTHER_ORDERBOOK_SIGNATURES
)
"""Every topic0 this build knows an orderbook to emit; any other one from a configured orderbook means an
interface generation the bot cannot read (:mod:`arbtui.chain.watch` alerts)."""

_TAKE_TYPES = abi.event_data_types("TakeOrderV2")
_CLEAR_TYPES = abi.event_data_types("ClearV2")
_AFTER_CLEAR_TYPES = abi.event_data_types("AfterClear")
_TAKE_V3_TYPES = abi.event_data_types("TakeOrderV3", abi.RAINDEX_V6)
_CLEAR_V3_TYPES = abi.event_data_types("ClearV3", abi.RAINDEX_V6)
_AFTER_CLEAR_V2_TYPES = abi.event_data_types("AfterClearV2", abi.RAINDEX_V6)
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


def _address(name: str, value: object) -> str:
    lowered = value.lower() if isinstance(value, str) else value
    if not isinstance(lowered, str) or not _ADDRESS.fullmatch(lowered):
        raise ValueError(f"{name} must be a 20-byte hex address, got {value!r}")
    return lowered


@dataclass(frozen=True, init=False)
class DecodeConfig:
    """Whose fills we want and how to read them. Addresses in any case; kept lower-case.

    ``orderbooks``: every orderbook read (any generation); ``orderbook=`` is accepted for one book."""

    orderbooks: tuple[str, ...]
    owner: str
    usdc: str
    markers: SymbolMarkers = field(default_factory=SymbolMarkers)

    def __init__(
        self,
        *,
        owner: str,
        usdc: str,
        orderbooks: Iterable[str] = (),
        orderbook: str | None = None,
        markers: SymbolMarkers | None = None,
    ) -> None:
        books = [*([orderbook] if orderbook is not None else []), *orderbooks]
        if not books:
            raise ValueError("at least one orderbook address is needed")
        lowered = tuple(dict.fromkeys(_address("orderbook", book) for book in books))
        object.__setattr__(self, "orderbooks", lowered)
        object.__setattr__(self, "owner", _address("owner", owner))
        object.__setattr__(self, "usdc", _address("usdc", usdc))
        object.__setattr__(self, "markers", markers if markers is not None else SymbolMarkers())

    @property
    def orderbook(self) -> str:
        """The first orderbook (the only one of a single-book configuration)."""
        return self.orderbooks[0]


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
    decimals: int | None
    """What a V4 order declared for the token; None on V5/V6 (IOs carry no decimals there)."""
    vault_id: int
    """0 = vaultless on V6 (the owner's wallet)."""


Amount = int | RainFloat
"""An event amount as the event carries it: base units (V4 ``uint256``) or a rain Float in whole-token
units (V5/V6)."""

SourceEvent = Literal["TakeOrderV2", "ClearV2", "TakeOrderV3", "ClearV3"]


@dataclass(frozen=True, slots=True)
class OrderSide:
    """Our order's side of one fill: what it received (input) and gave (output), as the event says."""

    trade_id: TradeId
    log: RawLog
    source_event: SourceEvent
    received: IOEntry
    received_raw: Amount
    gave: IOEntry
    gave_raw: Amount

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.received.token, self.gave.token)

    @property
    def orderbook(self) -> str:
        return self.log.address


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
    """An ``OrderV3`` (V4: IOs with declared decimals) or ``OrderV4`` (V5/V6: IOs without decimals)."""
    owner, _evaluable, inputs, outputs, _nonce = raw
    return _Order(owner=str(owner).lower(), inputs=_ios(inputs), outputs=_ios(outputs))


def _ios(raw: Any) -> tuple[IOEntry, ...]:
    entries: list[IOEntry] = []
    for entry in raw:
        if len(entry) == 3:  # IO = (token, uint8 decimals, uint256 vaultId)
            token, decimals, vault = entry
            entries.append(IOEntry(str(token).lower(), int(decimals), int(vault)))
        else:  # IOV2 = (token, bytes32 vaultId)
            token, vault = entry
            entries.append(IOEntry(str(token).lower(), None, int.from_bytes(vault, "big")))
    return tuple(entries)


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


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one generation's fill events are read."""

    take: SourceEvent
    clear: SourceEvent
    after: str
    take_types: list[str]
    clear_types: list[str]
    after_types: list[str]

    def amount(self, raw: object) -> Amount:
        return RainFloat.from_bytes(raw) if isinstance(raw, bytes) else int(str(raw))


_V4 = _Layout("TakeOrderV2", "ClearV2", "AfterClear", _TAKE_TYPES, _CLEAR_TYPES, _AFTER_CLEAR_TYPES)
_V6 = _Layout("TakeOrderV3", "ClearV3", "AfterClearV2", _TAKE_V3_TYPES, _CLEAR_V3_TYPES, _AFTER_CLEAR_V2_TYPES)
_LAYOUT_OF: Mapping[str, _Layout] = {
    TAKE_ORDER_V2: _V4, TAKE_ORDER_V2_BYTES32: _V4, CLEAR_V2: _V4, TAKE_ORDER_V3: _V6, CLEAR_V3: _V6,
}  # fmt: skip


def _take_sides(log: RawLog, owner: str, layout: _Layout) -> list[OrderSide]:
    _sender, config, taker_input, taker_output = _decode(layout.take_types, log, layout.take)
    raw_order, input_index, output_index, _signed = config
    taken = _order(raw_order)
    if taken.owner != owner:
        return []
    # The taker's input is what our order gave (its output); the taker's output is what it received.
    return [
        OrderSide(
            trade_id=log.trade_id(),
            log=log,
            source_event=layout.take,
            received=_io(taken.inputs, int(input_index), "input"),
            received_raw=layout.amount(taker_output),
            gave=_io(taken.outputs, int(output_index), "output"),
            gave_raw=layout.amount(taker_input),
        )
    ]


def _clear_sides(log: RawLog, after: RawLog, owner: str, layout: _Layout) -> list[OrderSide]:
    _sender, raw_alice, raw_bob, clear_config = _decode(layout.clear_types, log, layout.clear)
    alice, bob = _order(raw_alice), _order(raw_bob)
    alice_in_i, alice_out_i, bob_in_i, bob_out_i = (int(x) for x in clear_config[:4])
    _after_sender, change = _decode(layout.after_types, after, layout.after)
    alice_output, bob_output, alice_input, bob_input = (layout.amount(x) for x in change)
    both = alice.owner == owner and bob.owner == owner
    sides: list[OrderSide] = []
    if alice.owner == owner:
        sides.append(
            OrderSide(
                trade_id=log.trade_id(0),
                log=log,
                source_event=layout.clear,
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
                source_event=layout.clear,
                received=_io(bob.inputs, bob_in_i, "bob input"),
                received_raw=bob_input,
                gave=_io(bob.outputs, bob_out_i, "bob output"),
                gave_raw=bob_output,
            )
        )
    return sides


def _clear_owners(log: RawLog, layout: _Layout) -> tuple[str, str]:
    _sender, raw_alice, raw_bob, _config = _decode(layout.clear_types, log, layout.clear)
    return _order(raw_alice).owner, _order(raw_bob).owner


def extract_sides(logs: Iterable[RawLog], config: DecodeConfig) -> tuple[list[OrderSide], list[SkippedFill]]:
    """Our order sides in chain order, and skips for orderbook logs that cannot be parsed.

    ``logs`` must hold whole blocks (an after-clear event is looked for in the same transaction only).
    Logs of other contracts, other topics and other owners are ignored. An unparseable log of an
    orderbook with one of our topics is recorded as skipped: its owner cannot be known, so it is kept for
    the operator rather than dropped. After-clear logs are consumed by their clear.
    """
    books = frozenset(config.orderbooks)
    ordered = sorted(
        (log for log in logs if log.address in books and log.topics and not log.removed),
        key=lambda log: (log.block_number, log.log_index),
    )
    sides: list[OrderSide] = []
    skips: list[SkippedFill] = []
    for position, log in enumerate(ordered):
        topic = log.topics[0]
        layout = _LAYOUT_OF.get(topic)
        if layout is None:
            continue  # an after-clear (consumed by its clear) or a topic that is not a fill
        try:
            if topic in TAKE_ORDER_TOPICS:
                sides.extend(_take_sides(log, config.owner, layout))
                continue
            after = _following_after_clear(ordered, position)
            if after is None:
                alice_owner, bob_owner = _clear_owners(log, layout)
                ours = [who for who in (alice_owner, bob_owner) if who == config.owner]
                for leg in range(len(ours)):
                    skips.append(
                        _skip(
                            log,
                            SkipReason.MISSING_AFTER_CLEAR,
                            f"{layout.clear} without a following {layout.after}",
                            leg,
                        )
                    )
                continue
            sides.extend(_clear_sides(log, after, config.owner, layout))
        except _MalformedLogError as exc:
            skips.append(_skip(log, SkipReason.MALFORMED_LOG, str(exc)))
    return sides, skips


def bloom_bits(item: str) -> tuple[int, ...]:
    """The three bits a log's address or topic (``0x`` hex) sets in a block's ``logsBloom`` (yellow paper
    M3:2048: the low 11 bits of byte pairs 0-1, 2-3, 4-5 of its keccak256)."""
    digest = keccak(bytes.fromhex(item.removeprefix("0x")))
    return tuple(((digest[i] << 8) | digest[i + 1]) & 2047 for i in (0, 2, 4))


def clears_complete(logs: Iterable[RawLog]) -> bool:
    """Every clear among ``logs`` has its after-clear among them, and every after-clear its clear: a part
    of a block's logs (e.g. from notifications) can be decoded on its own."""
    ordered = sorted(logs, key=lambda log: (log.block_number, log.log_index))
    consumed: set[int] = set()
    for position, log in enumerate(ordered):
        if log.topics and log.topics[0] in CLEAR_TOPICS:
            after = _following_after_clear(ordered, position)
            if after is None:
                return False
            consumed.add(id(after))
    return all(id(log) in consumed for log in ordered if log.topics and log.topics[0] in AFTER_CLEAR_TOPICS)


def _following_after_clear(ordered: Sequence[RawLog], position: int) -> RawLog | None:
    """The after-clear event of the clear at ``position``: the next log of the same orderbook in the
    same transaction that is its generation's after-clear, unless another clear of that orderbook comes
    first."""
    clear = ordered[position]
    wanted = AFTER_CLEAR_OF[clear.topics[0]]
    for candidate in ordered[position + 1 :]:
        if candidate.tx_hash != clear.tx_hash or candidate.block_number != clear.block_number:
            return None
        if candidate.address != clear.address or not candidate.topics:
            continue  # another orderbook's logs in the same transaction
        if candidate.topics[0] in CLEAR_TOPICS:
            return None  # the next clear of the same transaction came first: ours has no after-clear
        if candidate.topics[0] == wanted:
            return candidate
    return None


# --- step 2: one side + token facts → fill or skip ---------------------------------------------


def tokens_needed(sides: Iterable[OrderSide]) -> set[str]:
    return {token for side in sides for token in side.tokens}


@dataclass(frozen=True, slots=True)
class Legs:
    """One side split into its equity and USDC legs (:func:`classify`)."""

    direction: Direction
    equity: IOEntry
    equity_raw: Amount
    usdc: IOEntry
    usdc_raw: Amount


def classify(side: OrderSide, config: DecodeConfig) -> Legs | tuple[SkipReason, str]:
    """Which leg is USDC (by address) and so which way we traded, or why the pair is not ours to hedge."""
    received_usdc = side.received.token == config.usdc
    gave_usdc = side.gave.token == config.usdc
    if received_usdc == gave_usdc:
        return (
            SkipReason.NON_USDC_PAIR,
            f"pair {side.received.token}/{side.gave.token} must have exactly one side = USDC {config.usdc}",
        )
    if received_usdc:  # our order received USDC and gave equity: we sold onchain
        return Legs(Direction.SELL, side.gave, side.gave_raw, side.received, side.received_raw)
    return Legs(Direction.BUY, side.received, side.received_raw, side.gave, side.gave_raw)


def base_units(amount: Amount, decimals: int, role: str) -> int | tuple[SkipReason, str]:
    """An event amount in the token's base units, exactly, or why it cannot be one. V4 amounts already
    are base units; a V5/V6 Float is ``value × 10^decimals`` and must be a positive whole number of
    them (never rounded)."""
    if isinstance(amount, int):
        if amount <= 0:
            return SkipReason.ZERO_AMOUNT, f"{role} amount {amount} must be positive"
        return amount
    if not amount.is_positive:
        return SkipReason.ZERO_AMOUNT, f"{role} amount {amount} (Float) must be positive"
    try:
        return amount.to_base_units(decimals)
    except FloatTooFine:
        return (
            SkipReason.TOO_MANY_DECIMALS,
            f"{role} amount {amount} has more decimals than the token's decimals() = {decimals}",
        )
    except FloatAmountError as exc:
        return SkipReason.MALFORMED_LOG, f"{role} amount: {exc}"


def build_fill(side: OrderSide, tokens: Mapping[str, TokenFacts], config: DecodeConfig) -> OnChainFill | SkippedFill:
    """The fill for ``side``, or the reason it cannot be one. ``tokens`` must hold both of its tokens.

    Stages, each of which may end in a skip: :func:`classify` (USDC leg, direction) → :func:`token_problem`
    (both tokens' ERC-20 facts) → the ticker → :func:`base_units` (exact amounts) → the fill."""
    log, leg = side.log, side.trade_id.leg

    def skip(reason: SkipReason, detail: str) -> SkippedFill:
        return _skip(log, reason, detail, leg)

    legs = classify(side, config)
    if not isinstance(legs, Legs):
        return skip(*legs)
    problem = token_problem(tokens.get(legs.equity.token), legs.equity, "equity") or token_problem(
        tokens.get(legs.usdc.token), legs.usdc, "USDC"
    )
    if problem is not None:
        return skip(*problem)
    equity, usdc_token = tokens[legs.equity.token], tokens[legs.usdc.token]
    assert equity.symbol is not None  # token_problem checked them
    assert equity.decimals is not None
    assert usdc_token.decimals is not None
    try:
        ticker = config.markers.ticker(equity.symbol)
    except InvalidSymbol as exc:
        return skip(SkipReason.UNSUPPORTED_SYMBOL, f"{exc} at {legs.equity.token}")
    # V4: the order's declared decimals (equal to decimals(), checked above); V5/V6: decimals() itself
    share_decimals, usdc_decimals = equity.decimals, usdc_token.decimals
    if (
        isinstance(legs.equity_raw, int)
        and isinstance(legs.usdc_raw, int)
        and (legs.equity_raw <= 0 or legs.usdc_raw <= 0)
    ):
        return skip(SkipReason.ZERO_AMOUNT, f"amounts equity={legs.equity_raw} usdc={legs.usdc_raw} must be positive")
    equity_raw = base_units(legs.equity_raw, share_decimals, "equity")
    if not isinstance(equity_raw, int):
        return skip(*equity_raw)
    usdc_raw = base_units(legs.usdc_raw, usdc_decimals, "USDC")
    if not isinstance(usdc_raw, int):
        return skip(*usdc_raw)

    shares = Shares.from_base_units(equity_raw, share_decimals)
    usdc = Usdc.from_base_units(usdc_raw, usdc_decimals)
    if log.block_timestamp is None:
        raise DecodeError(f"block timestamp missing for {log.where()}: intake must supply it")
    return OnChainFill(
        trade_id=side.trade_id,
        symbol=ticker,
        token_symbol=equity.symbol,
        token_address=legs.equity.token,
        direction=legs.direction,
        amount=shares,
        usdc_amount=usdc,
        price_usdc=PriceUsdc.per_share(usdc, shares),
        shares_raw=equity_raw,
        share_decimals=share_decimals,
        usdc_raw=usdc_raw,
        usdc_decimals=usdc_decimals,
        block_number=log.block_number,
        block_hash=log.block_hash,
        block_timestamp=datetime.fromtimestamp(log.block_timestamp, tz=UTC),
        source_event=side.source_event,
        orderbook=side.orderbook,
    )


def token_problem(facts: TokenFacts | None, io: IOEntry, role: str) -> tuple[SkipReason, str] | None:
    """Why the token of ``io`` cannot be used for a fill (None: it can). On V4 the order's declared
    decimals must equal ``decimals()``; on V5/V6 the IO declares none and ``decimals()`` is the rule."""
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
    if io.decimals is not None and not 0 <= io.decimals <= MAX_TOKEN_DECIMALS:
        return SkipReason.BAD_DECIMALS, f"{where}: declared decimals {io.decimals} are absurd"
    if not 0 <= facts.decimals <= MAX_TOKEN_DECIMALS:
        return SkipReason.BAD_DECIMALS, f"{where}: decimals() = {facts.decimals} is absurd"
    if io.decimals is not None and facts.decimals != io.decimals:
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
