"""``arbtui demo --headless`` as a real process: the whole pipeline for a minute, then the ledger it
leaves behind is checked against itself (``db rebuild-views --check``) and against what the solver sent."""

from __future__ import annotations

import json
import re
import signal
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from tests.demo.process import arbtui, demo_process, listening, started_ports, wait_for
from tests.e2e.ledger_view import LedgerView

SEED = "1"
"""Within its first 40 moves this seed's solver clears our orders against each other, fills one in a
token with no ticker and takes another owner's order (see test_market for the moves a seed makes); with
both books it sends moves to each, among them fills of our wrapped wtAAPL orders on the V6 book."""
V4_EVENTS = {"TakeOrderV2", "ClearV2"}
V6_EVENTS = {"TakeOrderV3", "ClearV3"}


def signed_onchain(ledger: LedgerView) -> dict[str, Decimal]:
    """Σ signed fills per symbol (our BUY +, our SELL −), from the onchain view's exact amounts."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for (payload,) in ledger.query("SELECT payload FROM onchain_trade_view"):
        fill = json.loads(payload)
        amount = Decimal(fill["amount"])
        net[fill["symbol"]] += amount if fill["direction"] == "BUY" else -amount
    return dict(net)


def hedged_by_broker(ledger: LedgerView) -> dict[str, Decimal]:
    """Σ filled hedges per symbol, signed as the fills they offset (a broker SELL offsets a BUY: +)."""
    hedged: dict[str, Decimal] = defaultdict(Decimal)
    for execution in ledger.executions():
        if execution.status == "FILLED":
            filled = execution.shares_filled
            hedged[execution.symbol] += filled if execution.direction == "SELL" else -filled
    return dict(hedged)


def test_a_minute_of_demo_hedges_every_whole_share_and_the_views_match_the_log(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run = arbtui("demo", "--headless", "--duration", "60", "--seed", SEED, "--keep-db", str(db), timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert f"{db} (kept)" in out

    check = arbtui("--db", str(db), "db", "rebuild-views", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "views match the event log" in check.stdout

    ledger = LedgerView(db)
    fills = ledger.fill_count()
    summary = re.search(r"fills recorded:\s+(\d+) \(the solver sent (\d+) fills of our orders", out)
    assert summary, out
    assert int(summary.group(1)) == int(summary.group(2)) == fills
    assert fills >= 40, f"a minute at 1.5 moves/s should record far more than {fills} fills"

    skips = ledger.query(
        "SELECT json_extract(payload, '$.skip.reason') FROM events WHERE event_type = 'FillSkipped'"
        " AND aggregate_type = 'OnChainTrade'"
    )
    sent_unknown = re.search(r"fills skipped:\s+(\d+) \(the solver sent (\d+) in a token with no ticker", out)
    assert sent_unknown, out
    assert len(skips) == int(sent_unknown.group(1)) == int(sent_unknown.group(2)) >= 1
    assert {reason for (reason,) in skips} == {"unsupported_symbol"}

    both_ours = ledger.query(
        "SELECT a.direction, b.direction, json_extract(a.payload, '$.amount'), json_extract(b.payload, '$.amount')"
        " FROM onchain_trade_view a JOIN onchain_trade_view b ON b.view_id = a.view_id || ':1'"
        " WHERE a.view_id NOT LIKE '%:1'"
    )
    assert both_ours, "a clear with both sides ours records two fills (legs 0 and 1)"
    for side_a, side_b, amount_a, amount_b in both_ours:
        assert {side_a, side_b} == {"BUY", "SELL"}
        assert amount_a == amount_b

    executions = ledger.executions()
    assert len(executions) >= 10
    assert {e.status for e in executions} == {"FILLED"}, "the demo settles every hedge before it exits"
    assert all(e.shares == e.shares_filled and e.shares == e.shares.to_integral_value() for e in executions)

    onchain, hedged, positions = signed_onchain(ledger), hedged_by_broker(ledger), ledger.positions()
    assert set(positions) == set(onchain) == {"AAPL", "TSLA", "MSFT", "NVDA"}
    for symbol, position in positions.items():
        carry = Decimal(position["net_position"])
        assert hedged.get(symbol, Decimal(0)) + carry == onchain[symbol], symbol
        assert Decimal(position["hedged"]) == hedged.get(symbol, Decimal(0)), symbol
        assert abs(carry) < 1, symbol
        assert position["pending_execution_id"] is None, symbol

    priced = ledger.query("SELECT count(*) FROM onchain_trade_view WHERE pyth_price_value IS NOT NULL")
    assert priced[0][0] == fills, "every fill carries the Pyth price read in its transaction"

    # both generations, side by side (the default --orderbook both): every fill names its book and event
    books = fills_by_book(ledger)
    assert len(books) == 2, books
    (v4_book, v4_events), (v6_book, v6_events) = sorted(books.items(), key=lambda item: "TakeOrderV2" not in item[1])
    assert set(v4_events) <= V4_EVENTS, books
    assert set(v6_events) <= V6_EVENTS, books
    assert "TakeOrderV3" in v6_events, books
    for book, events in ((v4_book, v4_events), (v6_book, v6_events)):
        line = re.search(rf"book {book}: (\d+) fills recorded \(the solver sent (\d+)\)", out, re.IGNORECASE)
        assert line, out
        assert int(line.group(1)) == int(line.group(2)) == sum(events.values()) >= 1

    # wrapped: on the V6 book AAPL trades as wtAAPL (1.25 tAAPL each); the fill is in the underlying shares
    wrapped = [
        (fill, fill["wrapper"])
        for (payload,) in ledger.query("SELECT payload FROM onchain_trade_view")
        if "wrapper" in (fill := json.loads(payload))
    ]
    assert wrapped, "a minute on both books records fills of the wrapped wtAAPL"
    for fill, wrapper in wrapped:
        assert (fill["symbol"], fill["orderbook"], fill["source_event"] in V6_EVENTS) == ("AAPL", v6_book, True)
        assert (wrapper["token_symbol"], wrapper["asset_symbol"], wrapper["rate"]) == ("wtAAPL", "tAAPL", "1.25")
        assert Decimal(wrapper["amount"]) * Decimal("1.25") == Decimal(fill["amount"])
    line = re.search(r"wrapped tokens: (\d+) fills recorded in underlying shares \(the solver sent (\d+)\)", out)
    assert line, out
    assert int(line.group(1)) == int(line.group(2)) == len(wrapped)
    # and hedged on the underlying: AAPL's filled hedges plus its carry are Σ its fills in tAAPL shares,
    # the wrapped fills' `amount` (not their wrapper amount) among them
    assert hedged.get("AAPL", Decimal(0)) + Decimal(positions["AAPL"]["net_position"]) == onchain["AAPL"]


def fills_by_book(ledger: LedgerView) -> dict[str, dict[str, int]]:
    """Recorded fills per orderbook address, per source event."""
    books: dict[str, dict[str, int]] = defaultdict(dict)
    for book, event, n in ledger.query(
        "SELECT json_extract(payload, '$.orderbook'), json_extract(payload, '$.source_event'), count(*)"
        " FROM onchain_trade_view GROUP BY 1, 2"
    ):
        books[str(book)][str(event)] = int(n)
    return dict(books)


def test_the_v4_book_alone_still_runs_the_demo(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run = arbtui(
        "demo", "--headless", "--duration", "15", "--seed", SEED, "--orderbook", "v4", "--keep-db", str(db),
        timeout=200,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ledger = LedgerView(db)
    books = fills_by_book(ledger)
    assert len(books) == 1, books
    ((book, events),) = books.items()
    assert set(events) <= V4_EVENTS, books
    assert "TakeOrderV2" in events, books
    assert re.search(rf"V4 book {book}: {ledger.fill_count()} fills recorded", run.stdout, re.IGNORECASE), run.stdout
    assert "V6 book" not in run.stdout
    assert "wrapped tokens" not in run.stdout
    assert not ledger.query("SELECT 1 FROM onchain_trade_view WHERE json_extract(payload, '$.wrapper') IS NOT NULL")
    assert {e.status for e in ledger.executions()} <= {"FILLED"}


def test_ctrl_c_stops_the_demo_gracefully_and_everything_it_started(tmp_path: Path) -> None:
    output = tmp_path / "demo.out"
    with demo_process(output, "--headless", "--seed", SEED, "--rate", "4") as process:
        built = wait_for(output, r"engine built \(ledger (\S+)\)", within=180, process=process)
        workdir = Path(built.group(1)).parent
        anvil_port, broker_port = started_ports(output.read_text())
        assert workdir.is_dir()
        assert listening(anvil_port)
        assert listening(broker_port)
        wait_for(output, r"\d+ s: [1-9]\d* fills", within=30, process=process)
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0, output.read_text()[-3000:]
    text = output.read_text()
    assert "waiting for the last fills and hedges to settle" in text
    assert re.search(r"fills recorded:\s+[1-9]", text), text
    assert "deleted with the demo" in text
    assert not listening(anvil_port)
    assert not listening(broker_port)
    assert not workdir.exists()


def test_without_the_npm_tooling_the_demo_says_to_run_make_setup(tmp_path: Path) -> None:
    run = arbtui("demo", "--headless", "--duration", "5", env={"ARBTUI_NODE_ROOT": str(tmp_path)})
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"arbtui demo: {tmp_path / 'node_modules'} is missing or incomplete: run `make setup`"
    )


def test_keep_db_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "ledger.db"
    existing.write_bytes(b"someone's ledger")
    run = arbtui("demo", "--headless", "--duration", "5", "--keep-db", str(existing))
    assert run.returncode == 1
    assert f"{existing} already exists: give --keep-db a new path" in run.stderr
    assert existing.read_bytes() == b"someone's ledger"


def test_duration_is_for_headless_runs() -> None:
    run = arbtui("demo", "--duration", "5")
    assert run.returncode == 2
    assert "--duration needs --headless" in run.stderr
