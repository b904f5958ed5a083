"""Issue #5 "Must hold": exactly-once across kill -9, with the bot as a separate process.

The bot runs as operators run it (``arbtui --config … --db … run --headless``) against a real anvil and
the local Alpaca server. Fills stream in on the chain while the process is killed with SIGKILL at random
instants and restarted each time. The end state must be exactly that of a run without crashes.

Issue 13: two orderbooks stream at once — the V4 stand-in (``chain.orderbook``) and the V6 stand-in
(``[[chain.orderbooks]]``, Float amounts from Rain's own library), each transaction on one of them at
random, into the same positions.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest

from tests.e2e.harness import (
    TERMINAL,
    Bot,
    Chain,
    CountingAlpacaServer,
    LedgerView,
    emit_paced,
    emitter_for,
    eventually,
    run_cli,
    write_config,
)
from tests.e2e.killer import Killer

FILLS = int(os.environ.get("ARBTUI_CRASH_FILLS", "500"))
KILLS = int(os.environ.get("ARBTUI_CRASH_KILLS", "24"))
SEED = int(os.environ.get("ARBTUI_CRASH_SEED", "20240605"))


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill9_during_a_fill_stream_loses_and_duplicates_nothing(
    bot: Bot, chain: Chain, alpaca: CountingAlpacaServer
) -> None:
    """Proves, for ARBTUI_CRASH_FILLS fills (default 500) and ≥ ARBTUI_CRASH_KILLS SIGKILLs (default 24)
    at random instants — right after a fill's receipt, inside the broker's submit handler before and after
    the order is created, while an order is in flight at the broker, during start-up recovery, and at
    plain random times — that after a final restart:

    * every onchain fill is recorded exactly once (by ``tx_hash:log_index`` from the receipts): 0 lost,
      0 duplicated;
    * every broker order exists exactly once per client order id, and every ledger execution has
      exactly one broker order (and is FILLED);
    * each symbol's net position in ``position_view`` equals, to the last decimal, Σ signed fills plus
      Σ signed broker fills as the broker's own book reports them, and is under one share (nothing left
      unhedged), with exact accumulated long/short;
    * ``arbtui db rebuild-views --check`` passes, and a final SIGTERM stops the bot.
    """
    started = time.monotonic()
    alpaca.book.fill_delay = 0.4  # each order stays "accepted" 0.4 s: kills land while orders are in flight
    rng = random.Random(SEED)
    write_config(bot.config, chain=chain, alpaca_url=alpaca.url, api_port=bot.api_port, db=bot.db, both_books=True)
    emitter = emitter_for(chain, SEED, books=("v4", "v6"))
    view = LedgerView(bot.db)
    await bot.start()
    await bot.wait_healthy()
    killer = Killer(bot, alpaca, emitter, rng)
    stop = threading.Event()
    # spread the fills over about the time the kills take (~2.2 s per kill cycle)
    emitting = asyncio.create_task(asyncio.to_thread(emit_paced, emitter, FILLS, KILLS * 2.2, stop))
    try:
        while not emitting.done() or bot.kills < KILLS:
            await killer.one()
        await emitting  # re-raises an emitter failure
        # the final run: everything recorded, every execution terminal, nothing left above the threshold
        await eventually(lambda: view.settled(FILLS), within=120, what="all fills recorded and hedged")
        bot.signal(signal.SIGTERM)
        await bot.wait_exit(30)
    finally:
        stop.set()
        await asyncio.gather(emitting, return_exceptions=True)

    # 1. onchain fills: exactly the emitted set, each once — from both books
    emitted = Counter(f.trade_id for f in emitter.emitted)
    assert len(emitted) == FILLS
    by_book = Counter(f.book for f in emitter.emitted)
    assert by_book["v4"] > 0, by_book
    assert by_book["v6"] > 0, by_book
    assert set(emitted.values()) == {1}
    recorded = view.filled_counts()
    lost = set(emitted) - set(recorded)
    duplicated = {tid: n for tid, n in recorded.items() if n > 1}
    unexpected = set(recorded) - set(emitted)
    # 2. broker orders: one per client id; one per ledger execution
    executions = view.executions()
    created = alpaca.book.submissions
    summary = (
        f"e2e crash: fills={FILLS} (v4={by_book['v4']} v6={by_book['v6']}) recorded={sum(recorded.values())} "
        f"hedges={len(executions)} "
        f"broker_orders={alpaca.book.total_orders} kills={bot.kills} starts={bot.starts} lost={len(lost)} "
        f"duplicated={len(duplicated)} duplicate_broker_orders={sum(n - 1 for n in created.values() if n > 1)} "
        f"submit_posts={sum(alpaca.posts.values())} modes={dict(sorted(killer.modes.items()))} "
        f"wall={time.monotonic() - started:.1f}s"
    )
    print("\n" + summary)
    assert bot.kills >= KILLS
    assert lost == set(), summary
    assert duplicated == {}, summary
    assert unexpected == set(), summary
    assert set(created.values()) == {1}, f"client ids created more than once: {created}"
    assert alpaca.book.total_orders == len(executions)
    by_client = {sim.client_order_id: sim for sim in alpaca.book.orders.values()}
    assert set(by_client) == {e.execution_id for e in executions}
    for execution in executions:
        assert execution.status == "FILLED", execution
        sim = by_client[execution.execution_id]
        assert execution.broker_order_id == sim.order_id
        assert (execution.symbol, execution.direction.lower(), execution.shares) == (
            sim.symbol,
            sim.side,
            sim.quantity,
        )
        assert execution.shares_filled == execution.shares
    # 3. positions: exact, against the independent model (chain receipts + the broker's own book)
    onchain = emitter.model_onchain_net()
    broker = alpaca.filled_net()
    positions = view.positions()
    assert set(positions) == set(onchain)
    for symbol, pos in positions.items():
        expected = onchain[symbol] + broker.get(symbol, Decimal(0))
        assert Decimal(pos["net_position"]) == expected, (symbol, pos, expected)
        assert abs(expected) < 1
        assert pos["pending_execution_id"] is None
        long = sum((f.amount for f in emitter.emitted if f.symbol == symbol and f.direction == "BUY"), Decimal(0))
        short = sum((f.amount for f in emitter.emitted if f.symbol == symbol and f.direction == "SELL"), Decimal(0))
        assert (Decimal(pos["accumulated_long"]), Decimal(pos["accumulated_short"])) == (long, short)
        assert Decimal(pos["hedged"]) == -broker.get(symbol, Decimal(0))  # hedged: what the broker sold
    assert all(e.status in TERMINAL for e in executions)
    # 4. the views agree with the event log
    code, output = await run_cli("--db", str(bot.db), "db", "rebuild-views", "--check")
    assert code == 0, output
    assert "views match the event log" in output
