"""`arbtui report …` against a real ledger file: exact output, filters, formats, clear failures, and
reading while the engine writes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from arbtui.cli import main
from arbtui.domain.onchain_trade import OnChainFill
from arbtui.domain.values import EXACT, Direction, PriceUsdc, Usdc
from arbtui.reporting import reports
from arbtui.reporting.commands import _watch, register, report
from arbtui.reporting.database import ReportError, open_readonly, snapshot
from arbtui.store.ledger import Ledger
from arbtui.store.migrate import migrate
from tests.builders import block, make_fill
from tests.integration.reporting.conftest import settle

if "report" not in main.commands:  # until the CLI registers it itself
    register(main)


def run(db_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--db", str(db_path), "report", *args])
    return result.exit_code, result.output


async def book_two_symbols(ledger: Ledger) -> None:
    """AAPL: 1.2 sold at 150 onchain, 1 bought back at 150.10 (a loss); TSLA: 2 bought at 250, 2 sold at 251."""
    await ledger.record_range([make_fill(1, "1.2", price="150")], [], block(1))
    await settle(ledger, "AAPL", price_cents="15010")
    await ledger.record_range(
        [make_fill(2, "2", Direction.BUY, symbol="TSLA", price="250", block_number=2)], [], block(2)
    )
    await settle(ledger, "TSLA", price_cents="25100")


async def test_pnl_csv_is_rounded_for_people_json_exact_and_in_trade_order(ledger: Ledger, db_path: Path) -> None:
    """CSV reads as the table does (shares to 6 decimals, money in cents, prices on the tick; no thousands
    separators); JSON keeps every value exact."""
    await book_two_symbols(ledger)
    code, out = run(db_path, "pnl", "--format", "csv")
    assert code == 0, out
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == list(reports.PNL_HEADER)
    body = [(r[1], r[2], r[4], r[5], r[6], r[7], r[8], r[9]) for r in table[1:]]
    assert body == [
        ("AAPL", "ONCHAIN", "SELL", "1.2", "150.00", "0.00", "0.00", "-1.2"),
        ("AAPL", "OFFCHAIN", "BUY", "1", "150.10", "-0.10", "-0.10", "-0.2"),
        ("TSLA", "ONCHAIN", "BUY", "2", "250.00", "0.00", "0.00", "2"),
        ("TSLA", "OFFCHAIN", "SELL", "2", "251.00", "2.00", "2.00", "0"),
    ]
    code, out = run(db_path, "pnl", "--format", "json")
    assert code == 0, out
    exact = [(x["quantity"], x["price_usd"], x["realized_pnl"], x["net_position_after"]) for x in json.loads(out)]
    assert exact == [("1.2", "150", "0", "-1.2"), ("1", "150.1", "-0.1", "-0.2"), ("2", "250", "0", "2"),
                     ("2", "251", "2", "0")]  # fmt: skip


def long_fill() -> OnChainFill:
    """1.451534588906221945 tAAPL sold for 335.89 USDC: a price of 60 significant digits."""
    fill = make_fill(1, "1.451534588906221945", price="231")
    usdc = Usdc("335.89")
    return fill.model_copy(
        update={
            "usdc_amount": usdc,
            "usdc_raw": usdc.to_base_units(18),
            "price_usdc": PriceUsdc.per_share(usdc, fill.amount),
        }
    )


async def test_many_digits_read_rounded_in_the_table_and_csv_and_exact_in_json(ledger: Ledger, db_path: Path) -> None:
    """An 18-decimal fill at a price with a long fraction: a realized PnL of dozens of digits reads in cents
    (red: a loss) in the table and the CSV; JSON carries every digit."""
    await ledger.record_range([long_fill()], [], block(1))
    await settle(ledger, "AAPL", price_cents="23140.5")
    code, out = run(db_path, "pnl", "--format", "json")
    rows = json.loads(out)
    assert rows[0]["quantity"] == "1.451534588906221945"
    assert len(rows[1]["realized_pnl"]) > 50
    exact = EXACT.subtract(Decimal(rows[0]["price_usd"]), Decimal("231.405"))  # 1 share matched
    assert Decimal(rows[1]["realized_pnl"]) == exact
    assert -Decimal("0.005") < Decimal(rows[1]["realized_pnl"]) < 0
    code, out = run(db_path, "pnl", "--format", "csv")
    body = list(csv.DictReader(io.StringIO(out)))
    assert [(r["quantity"], r["price_usd"], r["realized_pnl"]) for r in body] == [
        ("1.451535", "231.40", "0.00"),
        ("1", "231.40", ">-0.01"),  # a loss of a fraction of a cent never reads as 0.00
    ]
    code, out = run(db_path, "pnl")
    assert code == 0
    assert "1.451535" in out
    assert "1.451534588906221945" not in out
    assert ">-0.01" in out


async def test_json_table_unprofitable_and_symbol_filter(ledger: Ledger, db_path: Path) -> None:
    await book_two_symbols(ledger)
    code, out = run(db_path, "unprofitable", "--format", "json")
    assert code == 0, out
    losses = json.loads(out)
    assert [(x["symbol"], x["realized_pnl"]) for x in losses] == [("AAPL", "-0.1")]
    code, out = run(db_path, "pnl", "--symbol", "tsla", "--format", "json")
    assert [x["cumulative_pnl"] for x in json.loads(out)] == ["0", "2"]
    code, out = run(db_path, "pnl")
    assert code == 0
    assert "Totals per symbol" in out
    assert "-0.1" in out
    assert "TSLA" in out


async def test_since_filters_by_time_and_rejects_nonsense(ledger: Ledger, db_path: Path) -> None:
    await book_two_symbols(ledger)
    code, out = run(db_path, "trades", "--since", "2999-01-01", "--format", "csv")
    assert (code, out.strip()) == (0, ",".join(reports.TRADES_HEADER))
    code, out = run(db_path, "trades", "--since", "1d", "--format", "csv")
    assert code == 0
    assert len(out.strip().splitlines()) == 5  # header + 2 onchain + 2 broker fills
    code, out = run(db_path, "pnl", "--since", "last tuesday")
    assert code == 2
    assert "--since 'last tuesday'" in out


async def test_trades_report_is_the_unified_stream_prices_exact_in_json(ledger: Ledger, db_path: Path) -> None:
    await ledger.record_range([make_fill(1, "1.5", price="200")], [], block(1))
    await settle(ledger, "AAPL", price_cents="20012.5")
    code, out = run(db_path, "trades", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["trade_type"], r["direction"], r["quantity"], r["price_usd"]) for r in rows] == [
        ("ONCHAIN", "SELL", "1.5", "200.00"),
        ("OFFCHAIN", "BUY", "1", "200.12"),  # the cent tick, half-even
    ]
    code, out = run(db_path, "trades", "--format", "json")
    assert [r["price_usd"] for r in json.loads(out)] == ["200", "200.125"]  # exact


def test_missing_foreign_and_corrupt_databases_are_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    code, out = run(missing, "pnl")
    assert code == 1
    assert out.strip() == f"Error: no database at {missing} (pass --db, or run the bot first)"
    assert not missing.exists()  # read-only: never creates one
    foreign = tmp_path / "other.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    code, out = run(foreign, "pnl")
    assert (code, len(out.strip().splitlines())) == (1, 1)
    assert "is not an arbtui ledger" in out
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite at all" * 100)
    code, out = run(corrupt, "trades")
    assert (code, len(out.strip().splitlines())) == (1, 1)
    assert "not a database" in out


async def test_the_reporter_reads_while_the_engine_writes(ledger: Ledger, db_path: Path) -> None:
    """Fills and hedges commit continuously while readers take snapshots: never "database is locked",
    and every snapshot is whole — each symbol's PnL rows add up to its last cumulative, and the onchain
    PnL rows match onchain_trade_view row for row (both are written in the fill's one transaction)."""
    stop = threading.Event()
    seen: list[list[int]] = [[], []]

    def read_until_stopped(snapshots: list[int]) -> None:
        conn = open_readonly(db_path)
        try:
            while not stop.is_set():
                with snapshot(conn):
                    totals: dict[str, Decimal] = {}
                    last: dict[str, str] = {}
                    onchain = 0
                    for row in (row for batch in reports.pnl(conn) for row in batch):
                        totals[row[1]] = totals.get(row[1], Decimal(0)) + Decimal(row[7])
                        last[row[1]] = row[8]
                        onchain += row[2] == "ONCHAIN"
                    (fills,) = conn.execute("SELECT count(*) FROM onchain_trade_view").fetchone()
                    trades = sum(len(batch) for batch in reports.trades(conn))
                assert onchain == fills
                assert trades >= fills
                for symbol, total in totals.items():
                    assert total == Decimal(last[symbol]), symbol
                snapshots.append(fills)
        finally:
            conn.close()

    readers = [asyncio.create_task(asyncio.to_thread(read_until_stopped, mine)) for mine in seen]
    try:
        for n in range(1, 121):
            symbol = ("AAPL", "TSLA", "NVDA")[n % 3]
            direction = Direction.SELL if n % 4 else Direction.BUY
            fill = make_fill(n, f"0.{n % 9 + 1}", direction, symbol=symbol, price=f"{100 + n % 7}.5", block_number=n)
            await ledger.record_range([fill], [], block(n))
            if n % 5 == 0:
                for held in ("AAPL", "TSLA", "NVDA"):
                    await settle(ledger, held, price_cents=f"{10000 + 37 * n}")
    finally:
        stop.set()
        await asyncio.gather(*readers)  # a reader's failure (locked, torn) fails the test here
    for snapshots in seen:
        assert len(snapshots) >= 2
        assert snapshots == sorted(snapshots)  # each reader saw the ledger only grow
        assert snapshots[-1] > 0
    code, out = run(db_path, "pnl", "--format", "csv")
    assert code == 0
    assert len(out.strip().splitlines()) > 120


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
async def test_empty_ledger_reports_nothing_cleanly(ledger: Ledger, db_path: Path, fmt: str) -> None:
    code, out = run(db_path, "pnl", "--format", fmt)
    assert code == 0
    assert {"table": "nothing to show", "csv": "timestamp,", "json": "[]"}[fmt] in out


async def test_watch_redraws_totals_and_latest_trades(
    ledger: Ledger, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await book_two_symbols(ledger)
    ctx = click.Context(report, obj=SimpleNamespace(db=db_path))
    slept: list[float] = []
    await asyncio.to_thread(_watch, ctx, 0.5, rounds=2, sleep=slept.append)
    out = capsys.readouterr().out
    assert slept == [0.5, 0.5]
    assert "PnL totals per symbol" in out
    assert "TSLA" in out
    assert "Latest 15 trades" in out
    code, out = run(db_path.with_name("missing.db"), "--watch")
    assert code == 1
    assert "no database at" in out


def test_a_database_held_exclusively_is_one_clear_line(db_path: Path) -> None:
    """WAL readers never wait for the bot; only a process holding the file exclusively stops them."""
    migrate(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(ReportError, match="locked") as caught:
            open_readonly(db_path, busy_timeout_ms=50)
        assert "\n" not in str(caught.value)
    finally:
        holder.close()


async def test_position_table_rounds_shares_and_json_keeps_them_exact(ledger: Ledger, db_path: Path) -> None:
    """`arbtui position`: the table shows 1.451534588906221945 sold as 1.451535 (a net of 1e-18 as
    <0.000001, never 0); `--json` every digit."""
    await ledger.record_range([long_fill()], [], block(1))
    await ledger.record_range(
        [make_fill(2, "0.000000000000000001", Direction.BUY, symbol="MSFT", price="400", block_number=2)], [], block(2)
    )
    table = CliRunner().invoke(main, ["--db", str(db_path), "position"], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "-0.451535" in table.output  # net, after the hedge of 1 the fill's transaction reserved
    assert " 1.451535 " in table.output  # sold onchain
    assert "1.451534588906221945" not in table.output
    assert "<0.000001" in table.output
    exact = CliRunner().invoke(main, ["--db", str(db_path), "position", "--json"])
    nets = {row["symbol"]: row["net"] for row in json.loads(exact.output)["positions"]}
    assert nets == {"AAPL": "-0.451534588906221945", "MSFT": "0.000000000000000001"}
