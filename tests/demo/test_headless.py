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
token with no ticker and takes another owner's order (see test_market for the moves a seed makes)."""


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
