"""The fill path through a real SQLite file: events, views and links commit together; the view
contract dashboards rely on; duplicates; reorgs; skips; enrichment."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from arbtui.domain import onchain_trade, position
from arbtui.domain.onchain_trade import Enrich, OnChainFill, PythPrice, SkippedFill, SkipReason
from arbtui.domain.values import Direction, TradeId
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill, tx_hash
from tests.integration.store.conftest import pending_execution, rows, settle


def test_events_and_snapshots_tables_are_the_seeds(db_path: Path) -> None:
    from arbtui.store.migrate import migrate

    migrate(db_path)
    events = rows(db_path, "PRAGMA table_info(events)")
    assert [(r[1], r[2], r[3], r[5]) for r in events] == [
        ("aggregate_type", "TEXT", 1, 1),
        ("aggregate_id", "TEXT", 1, 2),
        ("sequence", "BIGINT", 1, 3),
        ("event_type", "TEXT", 1, 0),
        ("event_version", "TEXT", 1, 0),
        ("payload", "JSON", 1, 0),
        ("metadata", "JSON", 1, 0),
    ]
    snapshots = rows(db_path, "PRAGMA table_info(snapshots)")
    assert [r[1] for r in snapshots] == ["aggregate_type", "aggregate_id", "last_sequence", "payload", "timestamp"]
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_three_sells_hedge_exactly_one_share_and_carry_point_two(ledger: Ledger, db_path: Path) -> None:
    new = await ledger.record_range([make_fill(1, "0.3"), make_fill(2, "0.5"), make_fill(3, "0.4")], [], block(1))
    assert [str(t) for t in new] == [f"{tx_hash(n)}:0" for n in (1, 2, 3)]

    ((net, short, pending, payload),) = rows(
        db_path, "SELECT net_position, accumulated_short, pending_execution_id, payload FROM position_view"
    )
    assert json.loads(str(payload))["net_position"] == "-0.2"  # exact in the payload
    assert (net, short) == (-0.2, 1.2)  # REAL for dashboards
    execution_id = await pending_execution(ledger, "AAPL")
    assert pending == execution_id

    assert rows(db_path, "SELECT view_id, symbol, shares, direction, status FROM offchain_trade_view") == [
        (execution_id, "AAPL", 1, "BUY", "PENDING")
    ]
    links = rows(db_path, "SELECT trade_id, shares FROM trade_execution_link_view ORDER BY trade_id")
    assert links == [(f"{tx_hash(1)}:0", 0.3), (f"{tx_hash(2)}:0", 0.5), (f"{tx_hash(3)}:0", 0.2)]
    assert rows(db_path, "SELECT block_number FROM chain_checkpoints") == [(1,)]


async def test_mirror_case_buys_hedge_with_a_sell(ledger: Ledger, db_path: Path) -> None:
    buys = [make_fill(n, a, Direction.BUY) for n, a in ((1, "0.3"), (2, "0.5"), (3, "0.4"))]
    await ledger.record_range(buys, [], block(1))
    assert rows(db_path, "SELECT direction, shares FROM offchain_trade_view") == [("SELL", 1)]
    ((payload,),) = rows(db_path, "SELECT payload FROM position_view")
    assert json.loads(str(payload))["net_position"] == "0.2"


async def test_view_contract_ticker_sides_and_signs(ledger: Ledger, db_path: Path) -> None:
    await ledger.record_range([make_fill(1, "0.25", Direction.SELL, price="187.5", block_number=7)], [], block(7))
    ((symbol, direction, amount, price, tx, log_index, block_number, created),) = rows(
        db_path,
        "SELECT symbol, direction, amount, price_usdc, tx_hash, log_index, block_number, created_at"
        " FROM onchain_trade_view",
    )
    assert (symbol, direction, amount, price, tx, log_index, block_number) == (
        "AAPL",
        "SELL",
        0.25,
        187.5,
        tx_hash(1),
        0,
        7,
    )
    assert str(created).startswith("20")
    ((payload,),) = rows(db_path, "SELECT payload FROM onchain_trade_view")
    assert json.loads(str(payload))["token_symbol"] == "tAAPL"  # token symbol kept in the payload only
    assert rows(db_path, "SELECT net_position FROM position_view") == [(-0.25,)]  # onchain SELL → negative


async def test_a_fill_witnessed_twice_is_recorded_once(ledger: Ledger, db_path: Path) -> None:
    fill = make_fill(1, "0.7")
    await ledger.record_range([fill], [], block(1))
    before = rows(db_path, "SELECT count(*) FROM events")
    assert await ledger.record_range([fill, fill], [], block(2)) == []
    assert rows(db_path, "SELECT count(*) FROM events") == before
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert str(state.net) == "-0.7"


async def test_duplicate_in_a_second_process_is_a_no_op(db_path: Path) -> None:
    """Dedup comes from the store's keys, not from memory: a second store (fresh cache) agrees."""
    first, second = await Ledger.open(db_path), await Ledger.open(db_path)
    try:
        assert len(await first.record_range([make_fill(1, "2")], [], block(1))) == 1
        assert await second.record_range([make_fill(1, "2")], [], block(1)) == []
        assert rows(db_path, "SELECT count(*) FROM offchain_trade_view") == [(1,)]
    finally:
        await first.close()
        await second.close()


async def test_a_duplicate_believed_new_is_refused_by_the_key_and_read_again(db_path: Path) -> None:
    """Fills above every block a ledger has recorded are decided without a read; another process that
    recorded one meanwhile makes the log's key refuse the unit, which then reads and finds the duplicate."""
    first, second = await Ledger.open(db_path), await Ledger.open(db_path)
    try:
        await second.record_range([], [], block(1))  # the second ledger has now seen up to block 1
        assert len(await first.record_range([make_fill(2, "2", block_number=2)], [], block(2))) == 1
        again = [make_fill(2, "2", block_number=2), make_fill(3, "0.5", block_number=3)]
        assert [str(t) for t in await second.record_range(again, [], block(3))] == [f"{tx_hash(3)}:0"]
        assert rows(db_path, "SELECT count(*) FROM onchain_trade_view") == [(2,)]
        assert rows(db_path, "SELECT count(*) FROM offchain_trade_view") == [(1,)]
        state, _ = await second.store.load(position.SPEC, "AAPL")
        assert str(state.net) == "-0.5"
    finally:
        await first.close()
        await second.close()


ORDER_IDS_HIDDEN = (
    "SELECT iif(aggregate_type = 'OffchainOrder', 'order', aggregate_id), sequence, event_type"
    " FROM events ORDER BY rowid"
)
"""The log without execution ids (random per run)."""


async def test_trade_retracted_before_a_restart_and_re_mined_higher_is_recorded_again(db_path: Path) -> None:
    """After a restart the ledger only knows the cursor, below the trades a reorg retracted; one of
    them re-mined above the cursor is assumed new, refused by the key, read, and recorded as on a ledger
    that never restarted."""

    async def run(restart: bool) -> tuple[str, list[tuple[object, ...]]]:
        path = db_path.with_name(f"restart-{restart}.db")
        ledger = await Ledger.open(path)
        try:
            for n in (1, 2, 3):
                await ledger.record_range([make_fill(n, "0.4", block_number=n)], [], block(n))
            await ledger.rewind(block(1), reorg_depth=2, detected_at_block=3)
            if restart:
                await ledger.close()
                ledger = await Ledger.open(path)
            remined = make_fill(2, "0.4", block_number=2, fork=1)
            assert [str(t) for t in await ledger.record_range([remined], [], block(2, 1))] == [f"{tx_hash(2)}:0"]
            state, _ = await ledger.store.load(position.SPEC, "AAPL")
        finally:
            await ledger.close()
        return str(state.net), rows(path, ORDER_IDS_HIDDEN)

    restarted, straight = await run(restart=True), await run(restart=False)
    assert restarted == straight
    events = [event_type for _, _, event_type in straight[1]]
    assert "OnChainFillReversed" in events
    assert events[-1] == "OnChainFillAcknowledged"


def leg(fill: OnChainFill, n: int) -> OnChainFill:
    """``fill`` as leg ``n`` of its log (a clear between two of our orders yields two)."""
    return fill.model_copy(update={"trade_id": TradeId(fill.trade_id.tx_hash, fill.trade_id.log_index, n)})


async def test_a_clear_between_two_of_our_orders_nets_out_before_any_hedge(ledger: Ledger, db_path: Path) -> None:
    """Leg 0 alone crosses the threshold; judged after both legs of the transaction, nothing is placed."""
    sold, bought = make_fill(1, "1.5", Direction.SELL), leg(make_fill(1, "1.5", Direction.BUY), 1)
    assert len(await ledger.record_range([sold, bought], [], block(1))) == 2
    assert rows(db_path, "SELECT count(*) FROM offchain_trade_view") == [(0,)]
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert (str(state.net), state.pending) == ("0", None)


async def test_legs_of_one_transaction_are_hedged_together(ledger: Ledger, db_path: Path) -> None:
    first, second = make_fill(1, "0.6"), leg(make_fill(1, "0.6"), 1)
    other_symbol = make_fill(1, "0.2", symbol="MSFT", log_index=1)
    await ledger.record_range([first, other_symbol, second], [], block(1))
    assert rows(db_path, "SELECT symbol, direction, shares FROM offchain_trade_view") == [("AAPL", "BUY", 1)]
    links = rows(db_path, "SELECT trade_id, shares FROM trade_execution_link_view ORDER BY trade_id")
    assert links == [(str(first.trade_id), 0.6), (str(second.trade_id), 0.4)]


async def test_a_transaction_whose_last_fill_is_a_duplicate_is_still_judged(ledger: Ledger, db_path: Path) -> None:
    first, second = make_fill(1, "0.6"), leg(make_fill(1, "0.6"), 1)
    await ledger.record_range([second], [], block(1))  # leg 1 seen first (e.g. by an earlier, partial read)
    assert len(await ledger.record_range([first, second], [], block(1))) == 1
    assert rows(db_path, "SELECT direction, shares FROM offchain_trade_view") == [("BUY", 1)]


async def test_fill_complete_and_unified_trade_view(ledger: Ledger, db_path: Path) -> None:
    await ledger.record_range([make_fill(1, "1.5", price="200")], [], block(1))
    assert await settle(ledger, "AAPL", price_cents="20012.5")
    ((status, price_cents, executed_at, payload),) = rows(
        db_path, "SELECT status, price_cents, executed_at, payload FROM offchain_trade_view"
    )
    assert status == "FILLED"
    assert price_cents == 20012  # integer cents, half-even; exact value kept beside it
    assert json.loads(str(payload))["price_cents_exact"] == "20012.5"
    assert executed_at is not None
    # the seed's "dashboard simplification" query
    trades = rows(
        db_path,
        "SELECT created_at, direction, price, trade_type FROM unified_trade_view WHERE symbol = ? ORDER BY created_at",
        ("AAPL",),
    )
    assert [(t[1], t[2], t[3]) for t in trades] == [("SELL", 200.0, "ONCHAIN"), ("BUY", 200.125, "OFFCHAIN")]
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert (str(state.net), str(state.hedged), state.pending) == ("-0.5", "-1", None)


async def test_failed_hedge_returns_its_shares_and_partial_fill_returns_the_rest(ledger: Ledger) -> None:
    await ledger.record_range([make_fill(1, "2.5")], [], block(1))
    assert await settle(ledger, "AAPL", filled="0")  # broker rejected: 2 shares back into net
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert (str(state.net), state.pending) == ("-2.5", None)
    # the next fill re-triggers, this time for 3 shares; the broker fills 1 and cancels the rest
    await ledger.record_range([make_fill(2, "0.5")], [], block(2))
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert state.pending is not None
    assert str(state.pending.shares) == "3"
    assert await settle(ledger, "AAPL", filled="1")
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert (str(state.net), str(state.hedged), state.pending) == ("-2", "-1", None)


async def test_reorg_rewind_reverses_fills_above_the_fork(ledger: Ledger, db_path: Path) -> None:
    await ledger.record_range([make_fill(1, "0.4", block_number=1)], [], block(1))
    await ledger.record_range([make_fill(2, "0.4", block_number=2)], [], block(2))
    await ledger.record_range([make_fill(3, "0.1", block_number=3)], [], block(3))
    retracted = await ledger.rewind(block(1), reorg_depth=2, detected_at_block=3)
    assert [str(t) for t in retracted] == [f"{tx_hash(2)}:0", f"{tx_hash(3)}:0"]
    assert await ledger.cursor() == block(1)
    assert rows(db_path, "SELECT block_number FROM chain_checkpoints") == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM onchain_trade_view") == [(1,)]
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert str(state.net) == "-0.4"
    # rewinding again changes nothing; the re-mined trade is recorded again on the new branch
    assert await ledger.rewind(block(1), reorg_depth=2, detected_at_block=3) == []
    assert len(await ledger.record_range([make_fill(2, "0.4", block_number=2, fork=1)], [], block(2, 1))) == 1
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert str(state.net) == "-0.8"


async def test_skipped_fill_is_recorded_with_its_reason_and_not_a_trade(ledger: Ledger, db_path: Path) -> None:
    skip = SkippedFill(
        trade_id=TradeId(tx_hash(9), 4),
        block_number=5,
        block_hash=block(5).hash,
        reason=SkipReason.UNKNOWN_TOKEN,
        detail="token 0xdead… is not configured",
    )
    await ledger.record_range([make_fill(1, "0.1")], [skip], block(5))
    ((event_type, payload),) = rows(
        db_path, "SELECT event_type, payload FROM events WHERE aggregate_id = ?", (str(skip.trade_id),)
    )
    assert event_type == "FillSkipped"
    assert json.loads(str(payload))["skip"]["reason"] == "unknown_token"
    assert rows(db_path, "SELECT count(*) FROM onchain_trade_view") == [(1,)]


async def test_a_fill_the_domain_refuses_becomes_a_skip_and_the_range_still_commits(
    ledger: Ledger, db_path: Path
) -> None:
    bad = make_fill(2, "1").model_copy(update={"price_usdc": make_fill(2, "1").price_usdc.scaled(0)})
    await ledger.record_range([make_fill(1, "0.1"), bad], [], block(3))
    state, _ = await ledger.store.load(onchain_trade.SPEC, str(bad.trade_id))
    assert state.status is onchain_trade.TradeStatus.SKIPPED
    assert state.skip is not None
    assert "positive" in state.skip.detail
    assert await ledger.cursor() == block(3)


async def test_enrichment_adds_gas_and_pyth_price_once(ledger: Ledger, db_path: Path) -> None:
    fill = make_fill(1, "0.5")
    await ledger.record_range([fill], [], block(1))
    price = PythPrice(feed_id="0x" + "ab" * 32, value=18712345678, conf=1234, expo=-8, publish_time=1_790_000_000)
    assert await ledger.enrich(fill.trade_id, Enrich(gas_used=123456, pyth_price=price))
    assert not await ledger.enrich(fill.trade_id, Enrich(gas_used=1, pyth_price=None))
    ((value, expo, conf, gas),) = rows(
        db_path, "SELECT pyth_price_value, pyth_price_expo, pyth_price_conf, gas_used FROM onchain_trade_view"
    )
    assert (value, expo, conf, gas) == ("18712345678", -8, "1234", 123456)
    assert price.price == Decimal("187.12345678")


async def test_events_cannot_be_updated_or_deleted(ledger: Ledger, db_path: Path) -> None:
    await ledger.record_range([make_fill(1, "0.5")], [], block(1))
    conn = sqlite3.connect(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE events SET payload = '{}'")
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
