"""``arbtui show fill|order|position ID``: the detail the console opens on Enter, from the ledger opened
read-only — ``--json`` carries the state and every event exactly as stored (what ``arbtui events``
prints of that aggregate), the text the same values; an unknown id is one line and exit 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from arbtui.cli import main
from arbtui.domain import offchain_order, onchain_trade, position
from arbtui.domain.values import Direction
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill
from tests.integration.store.conftest import pending_execution, settle
from tests.tui.test_detail import step_of

FIRST = make_fill(1, "0.75", Direction.BUY, symbol="MSFT", price="410.123456789", block_number=1)
SECOND = make_fill(2, "1.5", Direction.BUY, symbol="MSFT", price="410.5", block_number=2)


async def _hedged_ledger(path: Path) -> str:
    """Two MSFT fills (net 2.25), a SELL 2 placed from them and filled at the broker: its execution id."""
    ledger = await Ledger.open(path)
    try:
        await ledger.record_range([FIRST], [], block(1))
        await ledger.record_range([SECOND], [], block(2))
        execution = await pending_execution(ledger, "MSFT")
        assert execution is not None
        assert await settle(ledger, "MSFT", price_cents="41012.5")
        return execution
    finally:
        await ledger.close()


def _show(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--db", str(db), "show", *args])
    return result


def _events(db: Path, aggregate: str) -> list[dict[str, Any]]:
    printed = CliRunner().invoke(main, ["--db", str(db), "events", "--aggregate", aggregate, "--json"])
    assert printed.exit_code == 0, printed.output
    return [json.loads(line) for line in printed.output.splitlines()]


async def test_show_order_json_is_the_ledgers_state_and_every_event_of_it_in_order(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    execution = await _hedged_ledger(db)
    shown = _show(db, "order", execution, "--json")
    assert shown.exit_code == 0, shown.output
    got = json.loads(shown.output)
    ledger = await Ledger.open(db)
    try:
        state, version = await ledger.store.load(offchain_order.SPEC, execution)
    finally:
        await ledger.close()
    assert got["state"] == state.model_dump(mode="json")
    assert got["version"] == version
    logged = _events(db, f"OffchainOrder:{execution}")
    assert [(e["sequence"], e["event_type"], e["payload"], e["metadata"]) for e in got["events"]] == [
        (e["sequence"], e["event_type"], e["payload"], e["metadata"]) for e in logged
    ]
    assert [e["event_type"] for e in got["events"]] == ["Placed", "Submitted", "OrderFilled"]
    assert got["events"][0]["since_previous_s"] is None
    assert all(e["actor"] == "engine" for e in got["events"])
    by_trade = {link["trade_id"]: link["shares"] for link in got["links"]}
    assert by_trade == {str(FIRST.trade_id): "0.75", str(SECOND.trade_id): "1.25"}  # the 0.25 carried


async def test_show_fill_prints_its_exact_amounts_and_the_execution_it_went_into(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    execution = await _hedged_ledger(db)
    shown = _show(db, "fill", str(FIRST.trade_id))
    assert shown.exit_code == 0, shown.output
    for exact in (
        f"tx                 {FIRST.trade_id.tx_hash}",
        "orderbook version  V4 (TakeOrderV2)",
        f"USDC               {FIRST.usdc_amount}",
        f"USDC raw           {FIRST.usdc_raw} (18 decimals)",
        "price USDC/share   410.123456789",
        "rate  none: a plain token",
        "price  not read yet",
        f"{execution}  0.75 shares · SELL · placed on threshold",
    ):
        assert exact in shown.output, exact
    as_json = json.loads(_show(db, "fill", str(FIRST.trade_id), "--json").output)
    assert as_json["state"]["fill"]["usdc_raw"] == FIRST.usdc_raw
    assert as_json["links"] == [
        {
            "execution_id": execution,
            "trade_id": str(FIRST.trade_id),
            "shares": "0.75",
            "direction": "SELL",
            "trigger_reason": "threshold",
        }
    ]
    assert [e["event_type"] for e in as_json["events"]] == [
        e["event_type"] for e in _events(db, f"{onchain_trade.AGGREGATE}:{FIRST.trade_id}")
    ]


async def test_show_position_lists_its_events_and_the_decision_now(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    execution = await _hedged_ledger(db)
    shown = _show(db, "position", "msft")  # a ticker in any case, as `arbtui position` takes it
    assert shown.exit_code == 0, shown.output
    logged = _events(db, f"{position.AGGREGATE}:MSFT")
    lines = [line.strip() for line in shown.output.splitlines() if line.strip().startswith("#")]
    assert [line.split()[0] for line in lines] == [f"#{e['sequence']}" for e in logged]
    assert [e["event_type"] in line for e, line in zip(logged, lines, strict=True)] == [True] * len(logged)
    assert "net (to hedge)  0.25" in shown.output
    assert "decision now    no hedge: below threshold, carry 0.25" in shown.output
    placed = step_of(shown.output, "OffChainOrderPlaced")
    fields = dict(line.split(None, 1) for line in placed[1:])
    assert (fields["execution_id"], fields["trigger_reason"]) == (execution, "threshold")


async def test_an_unknown_id_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    await _hedged_ledger(db)
    shown = _show(db, "order", "00000000-0000-4000-8000-000000000000")
    assert shown.exit_code == 1
    assert shown.output.strip().splitlines() == ["Error: no order 00000000-0000-4000-8000-000000000000 in the ledger"]
    assert _show(db, "trade", "x").exit_code == 2
    for kind, what in (("order", "execution id"), ("fill", "trade id")):
        bad = _show(db, kind, "x")
        assert bad.exit_code == 2, bad.output
        assert what in bad.output
        assert "bug" not in bad.output
