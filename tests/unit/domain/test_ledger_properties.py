"""Property tests: random histories driven through the domain exactly as the engine drives it.

The machine feeds fills (2–3 symbols, both sides, amounts with up to 18 decimals, tiny ones included),
order submissions, full and partial completions, failures, pause/resume, periodic checks, reorgs of
earlier fills (and their re-inclusion), duplicate witnesses and manual hedges through
``flows.witness_fill`` / ``flows.retract_fill`` / ``position.decide`` / ``offchain_order.decide`` /
``control.decide``, folding every change with the aggregates' ``evolve``. Beside it runs an independent
model made of plain ``Decimal`` sums. The store is simulated in memory: every event is kept as the
store keeps it (type name + JSON payload) so the teardown can replay every prefix of the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from arbtui.domain import control, flows, offchain_order, onchain_trade, position
from arbtui.domain.errors import ControlStateConflict, ExecutionPending
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.offchain_order import OrderStatus
from arbtui.domain.values import Audit, BrokerKind, Cents, Direction, ExecutionId, Shares, Symbol
from tests.unit.domain.factory import at, exec_id, fill, tid

SYMBOLS = ("AAPL", "TSLA", "NVDA")
PRICES = {"AAPL": "187.25", "TSLA": "251.5", "NVDA": "0.123456789"}
D0 = Decimal(0)
ONE = Decimal(1)

AMOUNTS = st.one_of(
    st.decimals(min_value=Decimal("1e-18"), max_value=Decimal("1e-12"), places=18),  # dust
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("3"), places=18),
    st.sampled_from([Decimal("0.3"), Decimal("0.5"), Decimal("0.4"), Decimal("0.2"), Decimal("1"), Decimal("2.5")]),
)
MANUAL_SHARES = st.one_of(
    st.integers(min_value=1, max_value=4).map(Decimal),
    st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal("4"), places=9),
)

Key = tuple[str, str]  # (aggregate type, aggregate id)
SPECS: dict[str, AggregateSpec[Any, Any]] = {
    s.type_name: s for s in (onchain_trade.SPEC, position.SPEC, offchain_order.SPEC, control.SPEC)
}


@dataclass
class ModelPosition:
    """The independent model of one symbol: plain exact decimals, no domain code."""

    fills: dict[str, Decimal] = field(default_factory=dict)  # active (not reorged) signed fills
    net: Decimal = D0
    hedged: Decimal = D0
    pending: tuple[ExecutionId, Decimal] | None = None  # execution id, signed reservation

    @property
    def reserved(self) -> Decimal:
        return self.pending[1] if self.pending else D0


def sign(direction: Direction) -> Decimal:
    return ONE if direction is Direction.BUY else -ONE


def whole_toward_zero(value: Decimal) -> Decimal:
    return Decimal(int(value))


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.trades: dict[str, onchain_trade.OnChainTrade] = {}
        self.positions: dict[str, position.Position] = {}
        self.orders: dict[str, offchain_order.OffchainOrder] = {}
        self.control = control.initial(control.CONTROL_ID)
        self.model = {s: ModelPosition() for s in SYMBOLS}
        self.model_paused_all = False
        self.model_paused: set[str] = set()
        self.fill_of: dict[str, onchain_trade.OnChainFill] = {}
        self.counter = 0
        self.log: list[tuple[Key, str, str]] = []  # (key, event type, JSON payload)
        self.history: list[tuple[int, dict[Key, Frozen]]] = []
        self.snapshot()

    # --- plumbing -----------------------------------------------------------------------------

    def next_n(self) -> int:
        self.counter += 1
        return self.counter

    def now(self) -> Any:
        return at(self.counter)

    def pos(self, symbol: str) -> position.Position:
        return self.positions.get(symbol) or position.initial(symbol)

    def allowed(self, symbol: str) -> bool:
        return not self.model_paused_all and symbol not in self.model_paused

    def context(self, symbol: str) -> position.HedgeContext:
        return position.HedgeContext(
            hedging_allowed=self.control.hedging_allowed(symbol),
            broker=BrokerKind.SCHWAB,
            execution_id=exec_id(self.next_n()),
            at=self.now(),
        )

    def record(self, key: Key, events: Sequence[DomainEvent]) -> None:
        spec = SPECS[key[0]]
        stores: dict[str, dict[str, Any]] = {
            "OnChainTrade": self.trades,
            "Position": self.positions,
            "OffchainOrder": self.orders,
        }
        store = stores.get(key[0], {})
        state = self.control if key[0] == "Control" else store.get(key[1]) or spec.initial(key[1])
        for event in events:
            state = spec.evolve(state, event)
            self.log.append((key, event.event_type(), event.model_dump_json()))
        if key[0] == "Control":
            self.control = state
        else:
            store[key[1]] = state

    def apply(self, changes: list[flows.Change]) -> None:
        for change in changes:
            self.record((change.spec.type_name, change.aggregate_id), change.events)

    def snapshot(self) -> None:
        states: dict[Key, Frozen] = {("Control", control.CONTROL_ID): self.control}
        states.update({("OnChainTrade", k): v for k, v in self.trades.items()})
        states.update({("Position", k): v for k, v in self.positions.items()})
        states.update({("OffchainOrder", k): v for k, v in self.orders.items()})
        self.history.append((len(self.log), states))

    def expect_placement(self, symbol: str, changes: list[flows.Change], reason: str) -> None:
        """Model the threshold rule and compare it with what the domain placed."""
        m = self.model[symbol]
        placements = [
            e
            for c in changes
            if c.spec is position.SPEC
            for e in c.events
            if isinstance(e, position.OffChainOrderPlaced)
        ]
        orders = [c for c in changes if c.spec is offchain_order.SPEC]
        if m.pending is None and self.allowed(symbol) and abs(m.net) >= ONE:
            size = whole_toward_zero(m.net)
            assert len(placements) == 1, f"expected a placement of {size} for net {m.net}"
            placed = placements[0]
            assert placed.direction is (Direction.SELL if size > 0 else Direction.BUY)
            assert placed.shares.value == abs(size)
            assert placed.trigger_reason == reason
            assert sum((c.shares.value for c in placed.contributions), D0) == size
            assert all((c.shares.value > 0) == (size > 0) for c in placed.contributions)
            assert len(orders) == 1
            assert orders[0].aggregate_id == placed.execution_id
            m.net -= size
            m.pending = (placed.execution_id, size)
        else:
            assert placements == []
            assert orders == []

    def after_evaluation(self, symbol: str) -> None:
        """Right after the threshold was evaluated with hedging allowed: hedging or |net| < 1."""
        pos = self.pos(symbol)
        if self.allowed(symbol):
            assert pos.pending is not None or abs(pos.net) < Shares(1)

    def pending_order(self, symbol: str) -> offchain_order.OffchainOrder | None:
        pending = self.pos(symbol).pending
        return self.orders[pending.execution_id] if pending else None

    def symbols_with(self, *statuses: OrderStatus) -> list[str]:
        out = []
        for s in SYMBOLS:
            order = self.pending_order(s)
            if order is not None and order.status in statuses:
                out.append(s)
        return out

    # --- rules --------------------------------------------------------------------------------

    @rule(symbol=st.sampled_from(SYMBOLS), direction=st.sampled_from(Direction), amount=AMOUNTS)
    def witness(self, symbol: str, direction: Direction, amount: Decimal) -> None:
        n = self.next_n()
        f = fill(n, str(amount), direction, symbol=symbol, price=PRICES[symbol], block=n)
        trade_id = tid(n)
        changes = flows.witness_fill(onchain_trade.initial(trade_id), self.pos(symbol), f, self.context(symbol))
        assert [c.spec.type_name for c in changes][:2] == ["OnChainTrade", "Position"]
        self.fill_of[trade_id] = f
        m = self.model[symbol]
        m.fills[trade_id] = sign(direction) * amount
        m.net += sign(direction) * amount
        self.expect_placement(symbol, changes, "threshold")
        self.apply(changes)
        self.after_evaluation(symbol)

    @precondition(lambda self: bool(self.fill_of))
    @rule(data=st.data())
    def witness_again(self, data: st.DataObject) -> None:
        """The same log seen again (restart, overlapping backfill): nothing changes."""
        trade_id = data.draw(st.sampled_from(sorted(self.fill_of)))
        f = self.fill_of[trade_id]
        trade = self.trades[trade_id]
        changes = flows.witness_fill(trade, self.pos(f.symbol), f, self.context(f.symbol))
        if trade.status is onchain_trade.TradeStatus.FILLED:
            assert changes == []
            return
        # re-included after a reorg: the fill counts again
        assert trade.status is onchain_trade.TradeStatus.REORGED
        m = self.model[f.symbol]
        m.fills[trade_id] = f.direction.signed(f.amount).value
        m.net += m.fills[trade_id]
        self.expect_placement(f.symbol, changes, "threshold")
        self.apply(changes)
        self.after_evaluation(f.symbol)

    @precondition(lambda self: any(t.status is onchain_trade.TradeStatus.FILLED for t in self.trades.values()))
    @rule(data=st.data())
    def reorg(self, data: st.DataObject) -> None:
        live = sorted(k for k, t in self.trades.items() if t.status is onchain_trade.TradeStatus.FILLED)
        trade_id = data.draw(st.sampled_from(live))
        trade = self.trades[trade_id]
        assert trade.fill is not None
        symbol = trade.fill.symbol
        retract = onchain_trade.Retract(reorg_depth=1, detected_at_block=self.counter)
        changes = flows.retract_fill(trade, self.pos(symbol), retract, self.now())
        assert [c.spec.type_name for c in changes] == ["OnChainTrade", "Position"]
        self.apply(changes)
        m = self.model[symbol]
        m.net -= m.fills.pop(trade_id)
        # a second retraction of the same log is a no-op
        assert flows.retract_fill(self.trades[trade_id], self.pos(symbol), retract, self.now()) == []

    @precondition(lambda self: bool(self.symbols_with(OrderStatus.PENDING)))
    @rule(data=st.data())
    def submit(self, data: st.DataObject) -> None:
        symbol = data.draw(st.sampled_from(self.symbols_with(OrderStatus.PENDING)))
        order = self.pending_order(symbol)
        assert order is not None
        confirm = offchain_order.ConfirmSubmission(broker_order_id=f"B-{order.execution_id}", at=self.now())
        self.record(("OffchainOrder", order.execution_id), offchain_order.decide(order, confirm))
        assert offchain_order.decide(self.orders[order.execution_id], confirm) == []

    @precondition(lambda self: bool(self.symbols_with(OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)))
    @rule(data=st.data(), parts=st.one_of(st.none(), st.integers(min_value=1, max_value=999_999_999)))
    def complete(self, data: st.DataObject, parts: int | None) -> None:
        """Fill the order wholly (``parts`` None) or ``parts``/1e9 of it and cancel the rest."""
        symbol = data.draw(st.sampled_from(self.symbols_with(OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED)))
        order = self.pending_order(symbol)
        assert order is not None
        execution_id = ExecutionId(order.execution_id)
        filled = order.shares if parts is None else order.shares.scaled(Decimal(parts).scaleb(-9))
        if parts is not None and filled <= order.shares_filled:
            return  # the broker never reports a shrinking fill
        cents = Cents("18712.5")
        if parts is None:
            order_events = offchain_order.decide(order, offchain_order.CompleteFill(price_cents=cents, at=self.now()))
        else:
            update = offchain_order.UpdatePartialFill(shares_filled=filled, avg_price_cents=cents, at=self.now())
            order_events = offchain_order.decide(order, update)
            mid = offchain_order.SPEC.fold(order, order_events)
            cancel = offchain_order.Cancel(shares_filled=filled, avg_price_cents=cents, reason="rest", at=self.now())
            order_events = [*order_events, *offchain_order.decide(mid, cancel)]
        pos_events = position.decide(
            self.pos(symbol),
            position.CompleteExecution(
                execution_id=execution_id,
                shares_filled=filled,
                price_cents=cents,
                broker_order_id=order.broker_order_id or "",
                at=self.now(),
            ),
        )
        self.record(("OffchainOrder", execution_id), order_events)
        self.apply(flows.position_changes(self.pos(symbol), pos_events))
        m = self.model[symbol]
        assert m.pending is not None
        assert m.pending[0] == execution_id
        reserved = m.pending[1]
        hedged = reserved * filled.value / order.shares.value
        m.hedged += hedged
        m.net += reserved - hedged
        m.pending = None
        assert self.orders[execution_id].status in (OrderStatus.FILLED, OrderStatus.CANCELLED)

    @precondition(lambda self: bool(self.symbols_with(OrderStatus.PENDING, OrderStatus.SUBMITTED)))
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        symbol = data.draw(st.sampled_from(self.symbols_with(OrderStatus.PENDING, OrderStatus.SUBMITTED)))
        order = self.pending_order(symbol)
        assert order is not None
        execution_id = ExecutionId(order.execution_id)
        order_events = offchain_order.decide(order, offchain_order.Fail(error="rejected", at=self.now()))
        pos_events = position.decide(
            self.pos(symbol), position.FailExecution(execution_id=execution_id, error="rejected", at=self.now())
        )
        self.record(("OffchainOrder", execution_id), order_events)
        self.apply(flows.position_changes(self.pos(symbol), pos_events))
        m = self.model[symbol]
        assert m.pending is not None
        m.net += m.pending[1]
        m.pending = None

    @rule(symbol=st.one_of(st.none(), st.sampled_from(SYMBOLS)), pause=st.booleans())
    def pause_or_resume(self, symbol: str | None, pause: bool) -> None:
        audit = Audit(actor="ops", reason="test", at=self.now())
        sym = Symbol(symbol) if symbol else None
        command: control.ControlCommand = (
            control.Pause(symbol=sym, audit=audit) if pause else control.Resume(symbol=sym, audit=audit)
        )
        if pause:
            conflict = self.model_paused_all if symbol is None else symbol in self.model_paused
        elif symbol is None:
            conflict = not self.model_paused_all and not self.model_paused
        else:
            conflict = self.model_paused_all or symbol not in self.model_paused
        try:
            events = control.decide(self.control, command)
        except ControlStateConflict:
            assert conflict
            return
        assert not conflict
        self.record(("Control", control.CONTROL_ID), events)
        if pause and symbol is None:
            self.model_paused_all = True
        elif pause and symbol is not None:
            self.model_paused.add(symbol)
        elif symbol is None:
            self.model_paused_all = False
            self.model_paused.clear()
        else:
            self.model_paused.discard(symbol)

    @rule(symbol=st.sampled_from(SYMBOLS))
    def check_threshold(self, symbol: str) -> None:
        events = position.decide(
            self.pos(symbol), position.CheckThreshold(reason="periodic", context=self.context(symbol))
        )
        changes = flows.position_changes(self.pos(symbol), events)
        self.expect_placement(symbol, changes, "periodic")
        self.apply(changes)
        self.after_evaluation(symbol)

    @rule(symbol=st.sampled_from(SYMBOLS), direction=st.sampled_from(Direction), shares=MANUAL_SHARES)
    def manual_hedge(self, symbol: str, direction: Direction, shares: Decimal) -> None:
        pos = self.pos(symbol)
        command = position.PlaceManualHedge(
            direction=direction,
            shares=Shares(shares),
            broker=BrokerKind.SCHWAB if shares == int(shares) else BrokerKind.ALPACA,
            execution_id=exec_id(self.next_n()),
            audit=Audit(actor="ops", reason="manual test", at=self.now()),
        )
        m = self.model[symbol]
        try:
            events = position.decide(pos, command)
        except ExecutionPending:
            assert m.pending is not None
            return
        assert m.pending is None
        changes = flows.position_changes(pos, events)
        assert [c.spec.type_name for c in changes] == ["Position", "OffchainOrder"]
        (placed,) = events
        assert isinstance(placed, position.OffChainOrderPlaced)
        removes = -sign(direction) * shares  # a SELL removes positive exposure
        # the fills' contributions cover the part of net the hedge removes, less what earlier manual
        # over-hedges (lots owned by no fill) account for; the rest is a new over-hedge
        covered = min(abs(removes), abs(m.net)) if m.net * removes > 0 else D0
        manual_before = sum((abs(lot.shares.value) for lot in pos.lots if lot.source.startswith("manual:")), D0)
        contributed = sum((c.shares.value for c in placed.contributions), D0)
        assert all((c.shares.value > 0) == (removes > 0) for c in placed.contributions)
        assert abs(contributed) <= covered
        assert covered - abs(contributed) <= manual_before
        assert placed.trigger_reason == "manual"
        self.apply(changes)
        after = self.pos(symbol).pending
        assert after is not None
        assert placed.contributions == tuple(c for c in after.contributions if not c.source.startswith("manual:"))
        m.net -= removes
        m.pending = (command.execution_id, removes)

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        for symbol, m in self.model.items():
            pos = self.pos(symbol)
            fills = sum(m.fills.values(), D0)
            assert pos.filled_net.value == fills
            assert pos.filled_net == pos.hedged + pos.reserved + pos.net
            assert pos.net.value == m.net
            assert pos.hedged.value == m.hedged
            assert pos.reserved.value == m.reserved
            assert fills == m.hedged + m.reserved + m.net
            assert sum((lot.shares for lot in pos.lots), Shares.zero()) == pos.net
            assert len({lot.shares.is_positive for lot in pos.lots}) <= 1
            assert all(not lot.shares.is_zero for lot in pos.lots)
            if pos.pending is not None:
                contributed = sum((c.shares for c in pos.pending.contributions), Shares.zero())
                assert contributed == pos.reserved
                assert all(c.shares.is_positive == pos.reserved.is_positive for c in pos.pending.contributions)

    @invariant()
    def one_live_order_per_symbol(self) -> None:
        for symbol in SYMBOLS:
            live = [o for o in self.orders.values() if o.symbol == symbol and not o.status.is_terminal]  # type: ignore[union-attr]
            pending = self.pos(symbol).pending
            assert len(live) <= 1
            assert [o.execution_id for o in live] == ([pending.execution_id] if pending else [])
            if pending is not None:
                assert live[0].shares == pending.shares
                assert live[0].direction is pending.direction

    @invariant()
    def control_matches_model(self) -> None:
        for symbol in SYMBOLS:
            assert self.control.hedging_allowed(symbol) == self.allowed(symbol)

    @invariant()
    def take_snapshot(self) -> None:
        if self.history[-1][0] != len(self.log):
            self.snapshot()

    def teardown(self) -> None:
        """Replay every prefix of the log (decoded from JSON, as the store would) and compare."""
        self.snapshot()
        states: dict[Key, Frozen] = {("Control", control.CONTROL_ID): control.initial(control.CONTROL_ID)}
        done = 0
        for length, expected in self.history:
            for key, event_type, payload in self.log[done:length]:
                spec = SPECS[key[0]]
                cls = spec.event_class(event_type)
                assert cls is not None
                states[key] = spec.evolve(states.get(key) or spec.initial(key[1]), cls.model_validate_json(payload))
            done = length
            assert states == expected
        # and one prefix literally from scratch per aggregate, through AggregateSpec.fold
        for key, state in self.history[-1][1].items():
            spec = SPECS[key[0]]
            events = [
                spec.event_class(t).model_validate_json(p)  # type: ignore[union-attr]
                for k, t, p in self.log
                if k == key
            ]
            assert spec.fold(spec.initial(key[1]), events) == state


LedgerMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedger = LedgerMachine.TestCase
