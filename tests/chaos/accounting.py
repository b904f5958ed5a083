"""What a chaos scenario is judged by: counts computed from the bot's ledger (read-only SQLite) against
an independent model — the fills the emitter caused on chain (by transaction receipt, checked against
the node's canonical chain at the end) and the orders the local broker itself holds.

Definitions (``live(t)`` = ``Filled`` minus ``Reorged`` events of trade ``t`` in the event log, i.e. how
many times the trade counts in its position; ``canonical`` = emitted fills whose transaction is in the
node's current chain; ``O[s]`` = Σ signed canonical fills of symbol ``s`` (our buy +, our sell −);
``B[s]`` = Σ signed shares the broker filled for ``s`` by its own book):

* **lost** = lost fills + lost hedges, where
  - lost fills = canonical fills with ``live(t) < 1`` (emitted by our owner, not in the ledger);
  - lost hedges = Σ_s floor(|O[s] + B[s]|) (whole shares left unhedged: the hedge shortfall vs floor(net))
    + ledger executions marked FILLED that have no order at the broker.
* **duplicated** = duplicated fills + duplicated hedges, where
  - duplicated fills = Σ_t max(0, live(t) − [t canonical]) (a fill counted twice, or still counted after
    a reorg removed it from the chain);
  - duplicated hedges = Σ_client-id max(0, orders the broker created for it − 1) + broker orders whose
    client order id is no execution in the ledger (a hedge placed twice / behind the ledger's back).
* **books == model**: for every symbol the ledger's ``position_view`` has net = O + B exactly, accumulated
  long/short = Σ canonical buys/sells, hedged = −B, no execution pending; every FILLED execution's shares
  equal the broker order's filled quantity; and ``arbtui db rebuild-views --check`` passes.
* **hedges** = executions FILLED in the ledger.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from tests.chaos.rig import Rig
from tests.e2e.harness import TERMINAL, EmittedFill, run_cli
from tests.e2e.ledger_view import Execution


@dataclass
class Tally:
    scenario: str
    fills: int = 0
    hedges: int = 0
    lost_fills: int = 0
    lost_hedges: int = 0
    duplicated_fills: int = 0
    duplicated_hedges: int = 0
    books_match: bool = False
    mismatches: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    wall_s: float = 0.0

    @property
    def lost(self) -> int:
        return self.lost_fills + self.lost_hedges

    @property
    def duplicated(self) -> int:
        return self.duplicated_fills + self.duplicated_hedges

    @property
    def ok(self) -> bool:
        return self.error is None and self.lost == 0 and self.duplicated == 0 and self.books_match

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "lost": self.lost, "duplicated": self.duplicated, "ok": self.ok}


def settled(rig: Rig, canonical: list[EmittedFill]) -> bool:
    """Every canonical fill live in the ledger, no execution open, nothing pending or ≥ 1 share net."""
    live = rig.view.live_counts()
    if any(live[f.trade_id] < 1 for f in canonical):
        return False
    if any(e.status not in TERMINAL for e in rig.view.executions()):
        return False
    return all(
        pos["pending_execution_id"] is None and abs(Decimal(pos["net_position"])) < 1
        for pos in rig.view.positions().values()
    )


def _signed_sums(fills: list[EmittedFill], symbol: str) -> tuple[Decimal, Decimal]:
    long = sum((f.amount for f in fills if f.symbol == symbol and f.direction == "BUY"), Decimal(0))
    short = sum((f.amount for f in fills if f.symbol == symbol and f.direction == "SELL"), Decimal(0))
    return long, short


def _hedge_counts(rig: Rig, executions: list[Execution], tally: Tally) -> None:
    book = rig.broker.book
    ledger_ids = {e.execution_id for e in executions}
    by_client = {sim.client_order_id: sim for sim in book.orders.values()}
    tally.duplicated_hedges = sum(n - 1 for n in book.submissions.values() if n > 1)
    behind_back = [cid for cid in by_client if cid not in ledger_ids]
    tally.duplicated_hedges += len(behind_back)
    for execution in executions:
        sim = by_client.get(execution.execution_id)
        if execution.status == "FILLED" and sim is None:
            tally.lost_hedges += 1
            tally.mismatches.append(f"{execution.execution_id}: FILLED in the ledger, unknown to the broker")
        elif execution.status == "FILLED" and sim is not None and book.filled(sim) != execution.shares_filled:
            tally.mismatches.append(
                f"{execution.execution_id}: ledger filled {execution.shares_filled}, broker {book.filled(sim)}"
            )


def _books(rig: Rig, canonical: list[EmittedFill], tally: Tally) -> None:
    onchain = rig.emitter.model_onchain_net(canonical)
    broker = rig.broker.filled_net()
    positions = rig.view.positions()
    for symbol in sorted(set(onchain) | set(broker) | set(positions)):
        expected = onchain.get(symbol, Decimal(0)) + broker.get(symbol, Decimal(0))
        tally.lost_hedges += math.floor(abs(expected))
        pos = positions.get(symbol)
        if pos is None:
            tally.mismatches.append(f"{symbol}: no position in the ledger, model net {expected}")
            continue
        long, short = _signed_sums(canonical, symbol)
        seen = {
            "net": (Decimal(pos["net_position"]), expected),
            "accumulated_long": (Decimal(pos["accumulated_long"]), long),
            "accumulated_short": (Decimal(pos["accumulated_short"]), short),
            "hedged": (Decimal(pos["hedged"]), -broker.get(symbol, Decimal(0))),
        }
        for name, (ledger, model) in seen.items():
            if ledger != model:
                tally.mismatches.append(f"{symbol}: {name} ledger {ledger} != model {model}")
        if pos["pending_execution_id"] is not None:
            tally.mismatches.append(f"{symbol}: execution {pos['pending_execution_id']} still pending")


async def tally(rig: Rig, scenario: str) -> Tally:
    """Count everything from real data: the node's chain, the broker's book, the bot's ledger."""
    result = Tally(scenario, notes=list(rig.notes))
    canonical = rig.emitter.canonical()
    canonical_ids = {f.trade_id for f in canonical}
    live = rig.view.live_counts()
    result.fills = len(canonical)
    result.lost_fills = sum(1 for t in canonical_ids if live[t] < 1)
    result.duplicated_fills = sum(max(0, n - (1 if t in canonical_ids else 0)) for t, n in live.items())
    executions = rig.view.executions()
    result.hedges = sum(1 for e in executions if e.status == "FILLED")
    _hedge_counts(rig, executions, result)
    _books(rig, canonical, result)
    code, output = await run_cli("--db", str(rig.bot.db), "db", "rebuild-views", "--check")
    if code != 0:
        result.mismatches.append(f"rebuild-views --check: {output.strip().splitlines()[-1:]}")
    result.books_match = not result.mismatches
    return result
