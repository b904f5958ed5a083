"""What a detail shows — a fill, a broker order, a position — as labelled exact values and a timeline of
events, the one rendering behind the console's detail screens and ``arbtui show``.

Values are the ledger's own: amounts as their exact decimal strings (never rounded), raw integers as
stored. The timeline is generic: any event of any aggregate renders as its type name, the time the
ledger recorded it, who did it (``actor`` from the event's metadata; the bot itself when none), the time
since the aggregate's previous event, and its payload's fields — so an event type added tomorrow shows
without a change here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, assert_never

from arbtui.domain import offchain_order, onchain_trade, position
from arbtui.domain.offchain_order import OffchainOrder
from arbtui.domain.onchain_trade import OnChainFill, OnChainTrade, PythMethod, PythPrice
from arbtui.domain.position import Position, ThresholdKind
from arbtui.domain.values import Direction, canonical
from arbtui.store.detail import Detail, Link
from arbtui.store.log import StoredEvent

RECENT_POSITION_EVENTS = 50
"""Events of a position a detail shows (a position's log grows with every fill; a fill's or an
execution's is a handful, shown whole)."""
ENGINE_ACTOR = "engine"
"""The actor of an event whose metadata names none: the bot recorded it on its own."""


class Kind(StrEnum):
    """What ``arbtui show`` and the console's Enter open."""

    FILL = "fill"
    ORDER = "order"
    POSITION = "position"

    @property
    def aggregate_type(self) -> str:
        match self:
            case Kind.FILL:
                return onchain_trade.AGGREGATE
            case Kind.ORDER:
                return offchain_order.AGGREGATE
            case Kind.POSITION:
                return position.AGGREGATE
            case _:
                assert_never(self)

    @property
    def limit(self) -> int | None:
        """Events read: a position's last :data:`RECENT_POSITION_EVENTS`, everything otherwise."""
        return RECENT_POSITION_EVENTS if self is Kind.POSITION else None


@dataclass(frozen=True)
class Step:
    """One event of a timeline."""

    sequence: int
    event_type: str
    recorded_at: datetime | None
    """None when the event's metadata has no readable ``recorded_at``."""
    actor: str
    since_previous: Decimal | None
    """Seconds since the aggregate's previous event shown (exact to the microsecond); None for the first."""
    fields: dict[str, Any]
    """The event's payload in its JSON form (exact decimal strings)."""
    metadata: dict[str, Any]

    def lines(self) -> list[str]:
        """A head line — ``#2   2026-…Z   +0.25s  engine  Submitted  (via …, reason '…')`` — then one
        line per field, nested objects flattened to dotted names (``fill.amount``), values exact."""
        latency = "" if self.since_previous is None else f"+{canonical(self.since_previous)}s"
        context = [f"via {self.metadata['correlation_id']}"] if self.metadata.get("correlation_id") else []
        if self.metadata.get("reason"):
            context.append(f"reason {self.metadata['reason']!r}")
        tail = f"  ({', '.join(context)})" if context else ""
        when = "(no time recorded)" if self.recorded_at is None else _time(self.recorded_at)
        head = f"#{self.sequence:<3} {when}  {latency:>10}  {self.actor}  {self.event_type}{tail}"
        fields = list(_flat(self.fields))
        width = max((len(key) for key, _ in fields), default=0)
        return [head, *(f"{FIELD_INDENT}{key:<{width}}  {value}" for key, value in fields)]


FIELD_INDENT = " " * 6
"""A step's fields, under its head line."""


@dataclass(frozen=True)
class Section:
    """A titled block: labelled values, or (``steps``) a timeline."""

    title: str
    rows: tuple[tuple[str, str], ...] = ()
    steps: tuple[Step, ...] = ()

    def lines(self) -> list[str]:
        width = max((len(label) for label, _ in self.rows), default=0)
        body = [f"  {label:<{width}}  {value}" for label, value in self.rows]
        body += [f"  {line}" for step in self.steps for line in step.lines()]
        return [self.title, *body]


def timeline(events: Sequence[StoredEvent]) -> tuple[Step, ...]:
    """Each event as a :class:`Step`, in sequence order, with the time since the one before it."""
    steps: list[Step] = []
    previous: datetime | None = None
    for stored in sorted(events, key=lambda e: e.sequence):
        at = _recorded_at(stored)
        steps.append(
            Step(
                sequence=stored.sequence,
                event_type=stored.event.event_type(),
                recorded_at=at,
                actor=str(stored.metadata.get("actor") or ENGINE_ACTOR),
                since_previous=None if previous is None or at is None else _seconds(at - previous),
                fields=stored.event.model_dump(mode="json"),
                metadata=stored.metadata,
            )
        )
        previous = at
    return tuple(steps)


def sections(kind: Kind, detail: Detail) -> list[Section]:
    """Everything the detail shows, in order."""
    match kind:
        case Kind.FILL:
            return _fill_sections(detail)
        case Kind.ORDER:
            return _order_sections(detail)
        case Kind.POSITION:
            return _position_sections(detail)
        case _:
            assert_never(kind)


def text(kind: Kind, detail: Detail) -> str:
    """The sections as plain lines (what ``arbtui show`` prints)."""
    return "\n\n".join("\n".join(section.lines()) for section in sections(kind, detail))


def as_json(kind: Kind, detail: Detail) -> dict[str, Any]:
    """The detail as JSON values: the state and every event payload exactly as stored (decimal strings,
    raw integers), the links, and each event's metadata and step latency."""
    return {
        "kind": kind.value,
        "aggregate_type": detail.aggregate_type,
        "aggregate_id": detail.aggregate_id,
        "version": detail.version,
        "state": detail.state.model_dump(mode="json"),
        "links": [_link_json(link) for link in detail.links],
        "events": [
            {
                "sequence": step.sequence,
                "event_type": step.event_type,
                "recorded_at": step.metadata.get("recorded_at"),
                "actor": step.actor,
                "since_previous_s": None if step.since_previous is None else canonical(step.since_previous),
                "payload": step.fields,
                "metadata": step.metadata,
            }
            for step in timeline(detail.events)
        ],
    }


@dataclass(frozen=True)
class Related:
    """Another detail this one names: a fill's executions, an order's fills, a position's pending
    execution and the fills its unhedged net comes from."""

    kind: Kind
    key: str
    label: str


def related(kind: Kind, detail: Detail) -> tuple[Related, ...]:
    """What a detail links to, in the order it shows them (each once)."""
    found: list[Related] = []
    match kind:
        case Kind.FILL:
            found += [Related(Kind.ORDER, link.execution_id, f"{link.shares} shares") for link in detail.links]
        case Kind.ORDER:
            found += [Related(Kind.FILL, link.trade_id, f"{link.shares} shares") for link in detail.links]
        case Kind.POSITION:
            pos: Position = detail.state
            if pos.pending is not None:
                found.append(Related(Kind.ORDER, pos.pending.execution_id, "pending"))
            found += [
                Related(Kind.FILL, lot.source, f"{lot.shares} unhedged")
                for lot in pos.lots
                if not lot.source.startswith(MANUAL_LOT)
            ]
        case _:
            assert_never(kind)
    return tuple({(r.kind, r.key): r for r in found}.values())


MANUAL_LOT = "manual:"
"""A lot's source for an over-hedge placed by hand (no fill to open)."""


def command(kind: Kind, key: str, db: Path | None = None) -> str:
    """The CLI command that prints the same detail (``--db`` when the ledger is not the default one)."""
    prefix = ["arbtui"] if db is None else ["arbtui", "--db", str(db)]
    return shlex.join([*prefix, "show", kind.value, key])


# --- a fill ---------------------------------------------------------------------------------------


_GENERATIONS = {
    "TakeOrderV2": "V4",
    "ClearV2": "V4",
    "TakeOrderV3": "V5/V6",
    "ClearV3": "V5/V6",
}
"""The orderbook interface a fill's event belongs to (IOrderBookV4; IOrderBookV5 / IRaindexV6)."""


def _fill_sections(detail: Detail) -> list[Section]:
    trade: OnChainTrade = detail.state
    out: list[Section] = []
    if trade.fill is not None:
        out += [Section("Fill", _fill_rows(trade, trade.fill)), _wrapper(trade.fill)]
        out.append(_pyth(trade))
    if trade.reorged is not None:
        out.append(
            Section(
                "Reorged",
                (
                    ("depth", str(trade.reorged.reorg_depth)),
                    ("detected at block", str(trade.reorged.detected_at_block)),
                ),
            )
        )
    if trade.skip is not None:
        skip = trade.skip
        out.append(
            Section(
                "Skipped",
                (
                    ("trade id", str(skip.trade_id)),
                    ("block", str(skip.block_number)),
                    ("reason", skip.reason.value),
                    ("detail", skip.detail),
                ),
            )
        )
    out.append(_links("Executions it went into (shares of this fill each hedges)", detail.links, by_execution=True))
    out.append(Section(f"Events ({detail.version})", steps=timeline(detail.events)))
    return out


def _fill_rows(trade: OnChainTrade, fill: OnChainFill) -> tuple[tuple[str, str], ...]:
    trade_id = fill.trade_id
    return (
        ("trade id", str(trade_id)),
        ("status", trade.status.value),
        ("tx", trade_id.tx_hash),
        ("log index", str(trade_id.log_index) + (f" (leg {trade_id.leg} of a clear)" if trade_id.leg else "")),
        ("block", str(fill.block_number)),
        ("block hash", fill.block_hash),
        ("block time", _time(fill.block_timestamp)),
        ("orderbook", fill.orderbook or "the configured orderbook (recorded before several books were read)"),
        ("orderbook version", f"{_GENERATIONS[fill.source_event]} ({fill.source_event})"),
        ("order hash", fill.order_hash or "—"),
        ("symbol", str(fill.symbol)),
        ("our side", fill.direction.value),
        ("token", f"{fill.token_symbol} {fill.token_address}"),
        ("shares", str(fill.amount)),
        ("shares raw", f"{fill.shares_raw} ({fill.share_decimals} decimals)"),
        ("USDC", str(fill.usdc_amount)),
        ("USDC raw", f"{fill.usdc_raw} ({fill.usdc_decimals} decimals)"),
        ("price USDC/share", str(fill.price_usdc)),
        ("witnessed at", _time(trade.filled_at) if trade.filled_at else "—"),
    )


def _wrapper(fill: OnChainFill) -> Section:
    wrapped = fill.unwrapped
    if wrapped is None:
        return Section("Wrapper", (("rate", "none: a plain token, its amount is the shares"),))
    return Section(
        "Wrapper (ERC-4626; the shares above are the underlying's)",
        (
            ("wrapper amount", f"{wrapped.wrapper_amount} {fill.token_symbol}"),
            ("wrapper raw", f"{wrapped.wrapper_raw} ({wrapped.wrapper_decimals} decimals)"),
            ("underlying", f"{wrapped.asset_symbol} {wrapped.asset_address}"),
            ("rate", f"{canonical(wrapped.rate)} {wrapped.asset_symbol} per {fill.token_symbol}"),
            ("rate read at block", str(fill.block_number)),
        ),
    )


def _pyth(trade: OnChainTrade) -> Section:
    enriched = trade.enriched
    if enriched is None:
        return Section("Pyth", (("price", "not read yet"),))
    gas = ("gas used", "—" if enriched.gas_used is None else str(enriched.gas_used))
    price: PythPrice | None = enriched.pyth_price
    if price is None:
        return Section("Pyth", (("price", f"none: {enriched.detail or 'no read found'}"), gas))
    published = datetime.fromtimestamp(price.publish_time, UTC)
    rows = (
        ("feed", price.feed_id),
        ("value", str(price.value)),
        ("conf", str(price.conf)),
        ("expo", str(price.expo)),
        ("publish time", f"{price.publish_time} ({_time(published)})"),
        ("price", canonical(price.price)),
        ("confidence", canonical(price.confidence)),
        ("read by", _method(price.method, trade)),
        gas,
    )
    return Section("Pyth", rows + ((("detail", enriched.detail),) if enriched.detail else ()))


def _method(method: PythMethod | None, trade: OnChainTrade) -> str:
    block = trade.fill.block_number if trade.fill else "?"
    match method:
        case PythMethod.TRACE | None:
            recorded = "" if method else " (recorded before the method was stored: every such read was a trace)"
            return f"trace: the read the fill's own transaction made{recorded}"
        case PythMethod.BLOCK_END:
            return f"block_end: getPriceUnsafe by eth_call at the end of block {block} (no tracer)"
        case _:
            assert_never(method)


# --- a broker order -------------------------------------------------------------------------------


def _order_sections(detail: Detail) -> list[Section]:
    order: OffchainOrder = detail.state
    price = order.price_cents
    rows = (
        ("execution id", order.execution_id),
        ("symbol", str(order.symbol or "?")),
        ("side", order.direction.value if order.direction else "?"),
        ("shares", str(order.shares)),
        ("broker", order.broker.value if order.broker else "?"),
        ("broker order id", order.broker_order_id or "—"),
        ("status", order.status.value if order.status else "—"),
        ("shares filled", str(order.shares_filled)),
        ("price", "—" if price is None else f"{price.to_price()} USD/share ({price} cents)"),
        ("trigger", order.trigger_reason or "—"),
        ("error", order.error or "—"),
        ("placed at", _time(order.placed_at) if order.placed_at else "—"),
        ("submitted at", _time(order.submitted_at) if order.submitted_at else "—"),
        ("completed at", _time(order.completed_at) if order.completed_at else "—"),
    )
    return [
        Section("Broker order", rows),
        _links("Fills it hedges (shares of each)", detail.links, by_execution=False),
        Section(f"Timeline ({detail.version} events)", steps=timeline(detail.events)),
    ]


def _links(title: str, links: tuple[Link, ...], *, by_execution: bool) -> Section:
    if not links:
        return Section(title, (("—", "none"),))
    rows = tuple(
        (
            link.execution_id if by_execution else link.trade_id,
            f"{link.shares} shares"
            + (f" · {link.direction} · placed on {link.trigger_reason}" if by_execution else ""),
        )
        for link in links
    )
    return Section(title, rows)


def _link_json(link: Link) -> dict[str, str]:
    return {
        "execution_id": link.execution_id,
        "trade_id": link.trade_id,
        "shares": str(link.shares),
        "direction": link.direction,
        "trigger_reason": link.trigger_reason,
    }


# --- a position -----------------------------------------------------------------------------------


def _position_sections(detail: Detail) -> list[Section]:
    pos: Position = detail.state
    pending = pos.pending
    rows = (
        ("symbol", pos.symbol),
        ("net (to hedge)", str(pos.net)),
        ("reserved", str(pos.reserved)),
        ("hedged", str(pos.hedged)),
        ("bought onchain", str(pos.accumulated_long)),
        ("sold onchain", str(pos.accumulated_short)),
        ("pending", "—" if pending is None else f"{pending.execution_id} {pending.direction.value} {pending.shares}"),
        ("last price", "—" if pos.last_price is None else str(pos.last_price)),
        ("threshold", _threshold(pos)),
        ("decision now", _decision(pos)),
        ("last hedge at", _time(pos.last_hedge_at) if pos.last_hedge_at else "—"),
        ("updated at", _time(pos.last_updated) if pos.last_updated else "—"),
    )
    lots = tuple((lot.source, str(lot.shares)) for lot in pos.lots) or (("—", "none"),)
    shown = len(detail.events)
    title = f"Events (last {shown} of {detail.version})" if shown < detail.version else f"Events ({shown})"
    return [
        Section("Position", rows),
        Section("Unhedged net by fill (lots, oldest first)", lots),
        Section(title, steps=timeline(detail.events)),
    ]


def _threshold(pos: Position) -> str:
    threshold = pos.threshold
    match threshold.kind:
        case ThresholdKind.SHARES:
            return "shares: hedge floor(|net|) once |net| ≥ 1 share"
        case ThresholdKind.DOLLARS:
            return (
                f"dollars: hedge |net| (to {canonical(threshold.quantum)} shares) once its notional"
                f" ≥ {canonical(threshold.min_notional)} USD"
            )
        case _:
            assert_never(threshold.kind)


def _decision(pos: Position) -> str:
    """What the threshold calls for now, and the carry it leaves."""
    size = pos.threshold.hedge_size(pos.net, pos.last_price)
    carry = pos.net - size
    if size.is_zero:
        return f"no hedge: below threshold, carry {carry}"
    blocked = f" (waits for execution {pos.pending.execution_id})" if pos.pending else ""
    return f"{Direction.to_reduce(size).value} {abs(size)}, carry {carry}{blocked}"


# --- text -----------------------------------------------------------------------------------------


def _recorded_at(stored: StoredEvent) -> datetime | None:
    """When the ledger recorded the event (its metadata's ``recorded_at``); None if that is missing or not
    a time — shown as such, never guessed."""
    try:
        at = datetime.fromisoformat(stored.recorded_at)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _seconds(delta: Any) -> Decimal:
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros).scaleb(-6)


def _time(moment: datetime) -> str:
    """ISO 8601 in UTC with every digit it has (``2026-11-24T14:30:00.123456Z``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _flat(fields: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(name, text)`` of each field in payload order: an object's fields under ``name.``, a list's items
    as ``name[i]`` (a placement's contributions), a string as itself, anything else as JSON."""
    for key, value in fields.items():
        yield from _flat_value(f"{prefix}{key}", value)


def _flat_value(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and value:
        yield from _flat(value, f"{name}.")
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _flat_value(f"{name}[{index}]", item)
    elif isinstance(value, str):
        yield name, value
    else:
        yield name, json.dumps(value, sort_keys=True, separators=(",", ":"))
