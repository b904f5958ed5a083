"""OnChainTrade — one onchain fill of one of our owner's orders. Aggregate id: ``str(TradeId)``.

Lifecycle::

    NEW ──Witness──▶ FILLED ──Enrich──▶ FILLED (enriched)
     │                 │  ▲
     │                 │  └──────Witness (re-included after a reorg)──┐
     │                 └──Retract──▶ REORGED ─────────────────────────┘
     └──RecordSkip──▶ SKIPPED ──Witness──▶ FILLED   (decodable after a config fix)

Witnessing a FILLED trade again is a no-op: that is the deduplication guarantee, and it comes from the
event store's key ``(OnChainTrade, trade id, 1)``, not from anything kept in memory.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, assert_never

from pydantic import Field

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.values import EXACT, Direction, PriceUsdc, Shares, Symbol, TradeId, Usdc

AGGREGATE = "OnChainTrade"


def _unset(value: object) -> bool:
    return value is None


class PythMethod(StrEnum):
    """How a fill's Pyth price was obtained."""

    TRACE = "trace"
    """The read the fill's own transaction made (``debug_traceTransaction``): exactly the price it used."""
    BLOCK_END = "block_end"
    """``getPriceUnsafe(feed)`` by a historic ``eth_call`` at the fill's block: the price at the *end* of
    that block (a later update in the same block wins) — for nodes without a tracer."""


class PythPrice(Frozen):
    """One Pyth ``Price`` of the fill's feed: integers plus exponent, as Pyth gives them."""

    feed_id: str
    value: int
    conf: int
    expo: int
    publish_time: int
    method: PythMethod | None = Field(default=None, exclude_if=_unset)
    """How it was read. ``None`` only in events stored before the method was recorded — every one of
    those was read from a trace. Left out of the payload when ``None``, so those events keep their bytes."""

    @property
    def price(self) -> Decimal:
        """``value × 10^expo``, exact."""
        return EXACT.scaleb(Decimal(self.value), self.expo)

    @property
    def confidence(self) -> Decimal:
        return EXACT.scaleb(Decimal(self.conf), self.expo)


class SkipReason(StrEnum):
    """Why a log that involves our owner could not become a fill."""

    MALFORMED_LOG = "malformed_log"
    UNKNOWN_TOKEN = "unknown_token"
    NON_USDC_PAIR = "non_usdc_pair"
    ZERO_AMOUNT = "zero_amount"
    SYMBOL_UNREADABLE = "symbol_unreadable"
    UNSUPPORTED_SYMBOL = "unsupported_symbol"
    BAD_DECIMALS = "bad_decimals"
    MISSING_AFTER_CLEAR = "missing_after_clear"
    NOT_A_VAULT = "not_a_vault"
    """The token carries a wrapped-equity marker (``wt``) but is not an ERC-4626 vault."""
    WRAPPER_UNREADABLE = "wrapper_unreadable"
    """An ERC-4626 wrapper whose ``convertToAssets`` (or underlying token) could not be read at the fill's
    block: never hedged on a guessed 1:1 rate."""
    WRAPPER_MISMATCH = "wrapper_mismatch"
    """The wrapper's ticker and its underlying token's ticker differ."""
    TOO_MANY_DECIMALS = "too_many_decimals"
    """A V5/V6 Float amount finer than its token's ``decimals()``: not a whole number of base units."""


# --- commands ---------------------------------------------------------------------------------


class Unwrapped(Frozen):
    """The fill's token is an ERC-4626 wrapper (``wtAAPL``): what was traded in wrapper shares, and the
    rate ``convertToAssets`` gave at the fill's block. The fill's ``amount``/``shares_raw``/
    ``share_decimals`` are the *underlying* shares (what the hedge uses); these are the wrapper's."""

    wrapper_amount: Shares
    """Wrapper shares our order traded (as the event carries them)."""
    wrapper_raw: int
    wrapper_decimals: int
    asset_address: str
    """The underlying token (``asset()``)."""
    asset_symbol: str
    rate: Decimal
    """Underlying shares per wrapper share at the fill's block (underlying / wrapper, 60 significant
    digits, half-even: a display figure; the two amounts are exact)."""


class OnChainFill(Frozen):
    """A decoded fill of our order (the ``Witness`` command). Raw integers are kept beside the decimals."""

    trade_id: TradeId
    symbol: Symbol
    token_symbol: str
    token_address: str
    direction: Direction
    amount: Shares
    usdc_amount: Usdc
    price_usdc: PriceUsdc
    shares_raw: int
    share_decimals: int
    usdc_raw: int
    usdc_decimals: int
    block_number: int
    block_hash: str
    block_timestamp: datetime
    source_event: Literal["TakeOrderV2", "ClearV2", "TakeOrderV3", "ClearV3"]
    """The event the fill was read from (``V2`` events: IOrderBookV4; ``V3``: IOrderBookV5/IRaindexV6)."""
    order_hash: str | None = None
    unwrapped: Unwrapped | None = Field(default=None, exclude_if=_unset)
    """Set when the token is an ERC-4626 wrapper (see :class:`Unwrapped`). Left out of the payload when
    ``None``: fills of plain tokens keep their bytes, and events stored before it existed still decode."""
    orderbook: str | None = Field(default=None, exclude_if=_unset)
    """The orderbook contract that emitted the event (None in fills recorded before several books were
    read: those came from the one configured orderbook). Left out of the payload when ``None``."""


class SkippedFill(Frozen):
    """A log that involves our owner but could not be decoded into a fill (the ``RecordSkip`` command)."""

    trade_id: TradeId
    block_number: int
    block_hash: str
    reason: SkipReason
    detail: str


class Witness(Frozen):
    """Record a decoded fill as seen at ``at``."""

    fill: OnChainFill
    at: datetime


class RecordSkip(Frozen):
    skip: SkippedFill
    at: datetime


class Enrich(Frozen):
    gas_used: int | None
    pyth_price: PythPrice | None
    detail: str = ""


class Retract(Frozen):
    """The fill's log was removed by a chain reorganisation."""

    reorg_depth: int
    detected_at_block: int


OnChainTradeCommand = Witness | RecordSkip | Enrich | Retract

# --- events -----------------------------------------------------------------------------------


class Filled(DomainEvent):
    fill: OnChainFill
    at: datetime


class Enriched(DomainEvent):
    gas_used: int | None
    pyth_price: PythPrice | None
    detail: str = ""


class Reorged(DomainEvent):
    reorg_depth: int
    detected_at_block: int


class FillSkipped(DomainEvent):
    skip: SkippedFill
    at: datetime


OnChainTradeEvent = Filled | Enriched | Reorged | FillSkipped

# --- state ------------------------------------------------------------------------------------


class TradeStatus(StrEnum):
    NEW = "new"
    FILLED = "filled"
    SKIPPED = "skipped"
    REORGED = "reorged"


class OnChainTrade(Frozen):
    trade_id: str
    status: TradeStatus = TradeStatus.NEW
    fill: OnChainFill | None = None
    filled_at: datetime | None = None
    enriched: Enriched | None = None
    reorged: Reorged | None = None
    skip: SkippedFill | None = None


def initial(trade_id: str) -> OnChainTrade:
    return OnChainTrade(trade_id=trade_id)


def decide(state: OnChainTrade, command: OnChainTradeCommand) -> list[OnChainTradeEvent]:
    match command:
        case Witness():
            return _witness(state, command)
        case RecordSkip():
            return _record_skip(state, command)
        case Enrich():
            return _enrich(state, command)
        case Retract():
            return _retract(state, command)
        case _:
            assert_never(command)


def _witness(state: OnChainTrade, command: Witness) -> list[OnChainTradeEvent]:
    fill = command.fill
    if str(fill.trade_id) != state.trade_id:
        raise InvalidCommand(AGGREGATE, state.trade_id, f"fill {fill.trade_id} sent to another trade")
    match state.status:
        case TradeStatus.FILLED:
            return []
        case TradeStatus.NEW | TradeStatus.SKIPPED | TradeStatus.REORGED:
            if not fill.amount.is_positive or not fill.usdc_amount.is_positive or not fill.price_usdc.is_positive:
                raise InvalidCommand(AGGREGATE, state.trade_id, "shares, USDC and price must be positive")
            return [Filled(fill=fill, at=command.at)]
        case _:
            assert_never(state.status)


def _record_skip(state: OnChainTrade, command: RecordSkip) -> list[OnChainTradeEvent]:
    match state.status:
        case TradeStatus.SKIPPED:
            return []
        case TradeStatus.NEW:
            return [FillSkipped(skip=command.skip, at=command.at)]
        case TradeStatus.FILLED | TradeStatus.REORGED:
            raise _invalid(state, f"cannot record a skip for a {state.status} trade")
        case _:
            assert_never(state.status)


def _enrich(state: OnChainTrade, command: Enrich) -> list[OnChainTradeEvent]:
    match state.status:
        case TradeStatus.FILLED:
            if state.enriched is not None:
                raise _invalid(state, "already enriched")
            return [Enriched(gas_used=command.gas_used, pyth_price=command.pyth_price, detail=command.detail)]
        case TradeStatus.NEW | TradeStatus.SKIPPED | TradeStatus.REORGED:
            raise _invalid(state, f"cannot enrich a {state.status} trade")
        case _:
            assert_never(state.status)


def _retract(state: OnChainTrade, command: Retract) -> list[OnChainTradeEvent]:
    match state.status:
        case TradeStatus.REORGED:
            return []
        case TradeStatus.FILLED:
            return [Reorged(reorg_depth=command.reorg_depth, detected_at_block=command.detected_at_block)]
        case TradeStatus.NEW | TradeStatus.SKIPPED:
            raise _invalid(state, f"cannot retract a {state.status} trade")
        case _:
            assert_never(state.status)


def _invalid(state: OnChainTrade, message: str) -> InvalidTransition:
    return InvalidTransition(AGGREGATE, state.trade_id, message)


def evolve(state: OnChainTrade, event: OnChainTradeEvent) -> OnChainTrade:
    match event:
        case Filled():
            return state.evolved(
                status=TradeStatus.FILLED,
                fill=event.fill,
                filled_at=event.at,
                enriched=None,
                reorged=None,
            )
        case Enriched():
            return state.evolved(enriched=event)
        case Reorged():
            return state.evolved(status=TradeStatus.REORGED, reorged=event)
        case FillSkipped():
            return state.evolved(status=TradeStatus.SKIPPED, skip=event.skip)
        case _:
            assert_never(event)


SPEC: AggregateSpec[OnChainTrade, OnChainTradeEvent] = AggregateSpec(
    type_name=AGGREGATE,
    state_type=OnChainTrade,
    event_types=(Filled, Enriched, Reorged, FillSkipped),
    initial=initial,
    evolve=evolve,
)
