"""`arbtui report exposure` against a real ledger file written by the ledger at controlled times: the
figures per session, the formats, the filters and the one-line failures."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from pathlib import Path

from click.testing import CliRunner

from arbtui.cli import main
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain import offchain_order, position
from arbtui.domain.flows import Change, complete_execution
from arbtui.domain.sessions import NEW_YORK
from arbtui.domain.values import Cents, Direction, Shares
from arbtui.store.event_store import UnitOfWork
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill
from tests.fakes.clock import FakeClock

FRIDAY_POST = datetime(2026, 12, 4, 19, 0, tzinfo=NEW_YORK)
SUNDAY_OVERNIGHT = datetime(2026, 12, 6, 21, 0, tzinfo=NEW_YORK)
PERIOD = ("--since", "2026-12-04T19:00-05:00", "--until", "2026-12-07T00:00-05:00")


async def run(db_path: Path, *args: str) -> tuple[int, str]:
    """The command in a thread of its own (it runs its own event loop for the broker's calendar)."""
    invoke = CliRunner().invoke
    result = await asyncio.to_thread(invoke, main, ["--db", str(db_path), "report", "exposure", *args], env={})
    return result.exit_code, result.output


async def hedge_filled(ledger: Ledger, symbol: str, price_cents: str, at: datetime) -> None:
    """Play the broker: the symbol's pending execution is submitted and filled in full at ``at``."""
    state, _ = await ledger.store.load(position.SPEC, symbol)
    assert state.pending is not None
    execution_id = state.pending.execution_id

    async def work(uow: UnitOfWork) -> None:
        order = await uow.load(offchain_order.SPEC, execution_id)
        confirm = offchain_order.ConfirmSubmission(broker_order_id=f"b-{execution_id[:8]}", at=at)
        uow.record([Change(offchain_order.SPEC, execution_id, tuple(offchain_order.decide(order, confirm)))])
        order = await uow.load(offchain_order.SPEC, execution_id)
        pos = await uow.load(position.SPEC, symbol)
        uow.record(complete_execution(order, pos, shares_filled=order.shares, price_cents=Cents(price_cents), at=at))

    await ledger.store.run(work)


async def weekend_ledger(db_path: Path) -> None:
    """2 AAPL bought onchain at $100 on Friday 19:00 (after hours), hedged at 21:00 on Sunday (overnight);
    0.5 TSLA sold at $300 on Sunday 21:00, under the one-share threshold: never hedged."""
    clock = FakeClock(FRIDAY_POST)
    ledger = await Ledger.open(db_path, clock=clock)
    try:
        await ledger.record_range([make_fill(1, "2", Direction.BUY, price="100")], [], block(1))
        clock.advance((SUNDAY_OVERNIGHT - FRIDAY_POST).total_seconds())
        await hedge_filled(ledger, "AAPL", "10010", clock.now())
        await ledger.record_range(
            [make_fill(2, "0.5", Direction.SELL, symbol="TSLA", price="300", block_number=2)], [], block(2)
        )
        aapl, _ = await ledger.store.load(position.SPEC, "AAPL")
        assert aapl.hedged == Shares(2)
    finally:
        await ledger.close()


def by_session(out: str) -> dict[str, dict[str, str]]:
    return {row["session"]: row for row in json.loads(out)}


async def test_json_splits_the_weekend_exposure_by_session_exactly(db_path: Path) -> None:
    """$200 of AAPL from Friday 19:00 to Sunday 21:00: after hours 1 h, weekend 48 h (Friday 20:00 → Sunday
    20:00 on the dry-run calendar, which trades overnight), overnight 1 h; then $150 of TSLA for the 3 h to
    midnight (overnight)."""
    await weekend_ledger(db_path)
    code, out = await run(db_path, *PERIOD, "--json")
    assert code == 0, out
    rows = by_session(out)
    assert list(rows) == ["regular", "pre", "post", "overnight", "closed", "weekend", "total"]
    assert (rows["post"]["hours"], rows["post"]["unhedged_usd_hours"]) == ("1", "200")
    assert (rows["weekend"]["hours"], rows["weekend"]["unhedged_usd_hours"]) == ("48", "9600")
    assert (rows["overnight"]["hours"], rows["overnight"]["unhedged_usd_hours"]) == ("4", "650")
    assert rows["overnight"]["unhedged_usd_seconds"] == str((200 + 3 * 150) * 3600)
    assert (rows["total"]["hours"], rows["total"]["unhedged_usd_hours"]) == ("53", "10450")
    assert rows["regular"]["average_unhedged_usd"] == "0"


async def test_symbol_filter_csv_and_table(db_path: Path) -> None:
    await weekend_ledger(db_path)
    code, out = await run(db_path, *PERIOD, "--symbol", "tsla", "--format", "json")
    assert code == 0, out
    assert by_session(out)["total"]["unhedged_usd_hours"] == "450"
    code, out = await run(db_path, *PERIOD, "--format", "csv")
    assert code == 0, out
    assert out.splitlines()[0] == "session,hours,unhedged_usd_hours,average_unhedged_usd,seconds,unhedged_usd_seconds"
    code, out = await run(db_path, *PERIOD)
    assert code == 0, out
    assert "Unhedged exposure" in out
    weekend = next(line for line in out.splitlines() if "weekend" in line)
    assert "9,600.00" in weekend
    assert "200.00" in weekend  # the average


async def test_bad_periods_are_one_line_and_exit_non_zero(db_path: Path) -> None:
    await weekend_ledger(db_path)
    code, out = await run(db_path, "--since", "last tuesday")
    assert code == 2
    assert "--since 'last tuesday': expected ISO-8601" in out
    code, out = await run(db_path, "--since", "2026-12-07", "--until", "2026-12-04")
    assert code == 2
    assert "must be after --since" in out
    code, out = await run(Path(db_path.parent / "missing.db"), *PERIOD)
    assert code == 1
    assert "no database at" in out


async def test_a_hedge_filled_in_parts_counts_each_part_from_when_it_filled(db_path: Path) -> None:
    """2 AAPL bought onchain at $100 on Friday 10:00; the SELL hedge fills 1.5 at 11:00 and the rest at
    12:00: $200 for an hour, $50 for the next, nothing after — 250 USD·h, not the 400 the execution's end
    alone would say."""
    start = datetime(2026, 12, 4, 10, 0, tzinfo=NEW_YORK)
    clock = FakeClock(start)
    ledger = await Ledger.open(db_path, clock=clock)
    try:
        await ledger.record_range([make_fill(1, "2", Direction.BUY, price="100")], [], block(1))
        state, _ = await ledger.store.load(position.SPEC, "AAPL")
        assert state.pending is not None
        execution_id = state.pending.execution_id
        clock.advance(3600)

        async def partly(uow: UnitOfWork) -> None:
            order = await uow.load(offchain_order.SPEC, execution_id)
            confirm = offchain_order.ConfirmSubmission(broker_order_id=f"b-{execution_id[:8]}", at=clock.now())
            confirmed = offchain_order.decide(order, confirm)
            order = offchain_order.SPEC.fold(order, confirmed)
            part = offchain_order.UpdatePartialFill(
                shares_filled=Shares("1.5"), avg_price_cents=Cents(10_000), at=clock.now()
            )
            uow.record([Change(offchain_order.SPEC, execution_id, (*confirmed, *offchain_order.decide(order, part)))])

        await ledger.store.run(partly)
        clock.advance(3600)
        await hedge_filled(ledger, "AAPL", "10000", clock.now())
    finally:
        await ledger.close()
    code, out = await run(db_path, "--since", "2026-12-04T10:00-05:00", "--until", "2026-12-04T13:00-05:00", "--json")
    assert code == 0, out
    assert by_session(out)["regular"]["unhedged_usd_hours"] == "250"


async def test_the_sessions_come_from_the_configured_brokers_calendar(
    db_path: Path, tmp_path: Path, alpaca_server: AlpacaServer
) -> None:
    """With ``--config`` naming Alpaca (the local server, Thanksgiving 2026 a holiday in its calendar): 1 AAPL
    unhedged from Wednesday 16:00 to Monday's open spends 24 h ``closed`` — the holiday, from Wednesday's
    after-hours end to Thursday's overnight session — which the dry-run calendar (no holiday) would call
    pre-market, regular and after hours."""
    alpaca_server.calendar.holidays.add(date(2026, 11, 26))
    clock = FakeClock(datetime(2026, 11, 25, 16, 0, tzinfo=NEW_YORK))
    ledger = await Ledger.open(db_path, clock=clock)
    try:
        await ledger.record_range([make_fill(1, "1", Direction.BUY, price="100")], [], block(1))
    finally:
        await ledger.close()
    config = tmp_path / "arbtui.toml"
    config.write_text(
        f'[chain]\nhttp_url = "http://127.0.0.1:9"\norderbook = "0x{"11" * 20}"\nowner = "0x{"22" * 20}"\n'
        f'usdc = "0x{"33" * 20}"\n\n[broker]\nkind = "alpaca"\n\n[alpaca]\nbase_url = "{alpaca_server.url}"\n'
    )
    env = {"ARBTUI_ALPACA_API_KEY": alpaca_server.api_key, "ARBTUI_ALPACA_API_SECRET": alpaca_server.api_secret}
    period = ["--since", "2026-11-25T16:00-05:00", "--until", "2026-11-30T09:30-05:00", "--json"]
    args = ["--db", str(db_path), "--config", str(config), "report", "exposure", *period]
    result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
    assert result.exit_code == 0, result.output
    rows = by_session(result.output)
    hours = {session: rows[session]["hours"] for session in rows}
    assert hours == {
        "regular": "6.5", "pre": "11", "post": "8", "overnight": "16", "closed": "24", "weekend": "48", "total": "113.5"
    }  # fmt: skip
    assert rows["closed"]["unhedged_usd_hours"] == "2400"
    code, out = await run(db_path, *period)  # no config: the dry-run calendar, where Thursday trades
    assert code == 0, out
    assert by_session(out)["closed"]["hours"] == "0"
