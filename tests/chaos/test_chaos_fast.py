"""The chaos suite's fast subset under pytest (``make test``): every scenario of
:mod:`tests.chaos.scenarios` at its ``fast`` size against the real bot process, anvil and the local
Alpaca server — 0 lost, 0 duplicated, final books == model. ``make chaos`` runs the full sizes."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from arbtui.demo.artifacts import Artifact, load_artifacts
from tests.chaos.accounting import settled, tally
from tests.chaos.rig import open_rig
from tests.chaos.scenarios import SCENARIOS, run_scenario
from tests.e2e.harness import API_KEY, API_SECRET, eventually


@pytest.fixture(scope="module")
def artifacts() -> dict[str, Artifact]:
    return load_artifacts()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fast_chaos_scenario_loses_and_duplicates_nothing(
    name: str, tmp_path: Path, artifacts: dict[str, Artifact]
) -> None:
    """Proves, per fault kind, that after the faults and a final settle the ledger holds every canonical
    onchain fill exactly once, every hedge exactly once at the broker, nothing unhedged above one share,
    and positions equal to the chain + broker model (counts in :mod:`tests.chaos.accounting`)."""
    result = await run_scenario(name, full=False, workdir=tmp_path, artifacts=artifacts)
    summary = f"{name}: {result.as_json()}"
    print("\n" + summary)
    assert result.error is None, summary
    assert result.fills > 0, summary
    assert result.hedges > 0, summary  # the scenario really traded
    assert (result.lost_fills, result.lost_hedges) == (0, 0), summary
    assert (result.duplicated_fills, result.duplicated_hedges) == (0, 0), summary
    assert result.books_match, summary


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_the_tally_sees_a_missing_fill_and_an_order_behind_the_ledgers_back(
    tmp_path: Path, artifacts: dict[str, Artifact]
) -> None:
    """The counts are computed, not assumed: a fill emitted while the bot is stopped is counted lost, and
    an order placed at the broker under a client id the ledger does not know is counted duplicated."""
    async with open_rig(tmp_path, artifacts, seed=5) as rig:
        stream = rig.stream(6, 1.0)
        await stream.wait()
        canonical = rig.emitter.canonical()
        await eventually(lambda: settled(rig, canonical), within=60, what="the first fills hedged")
        clean = await tally(rig, "clean")
        rig.bot.signal(signal.SIGTERM)
        await rig.bot.wait_exit(30)
        missed = await asyncio.to_thread(rig.emitter.send_exact, [("tMSFT", "BUY", Decimal("2.5"))])
        async with (
            aiohttp.ClientSession(headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": API_SECRET}) as http,
            http.post(
                f"{rig.broker.url}/v2/orders",
                json={
                    "symbol": "MSFT",
                    "qty": "1",
                    "side": "sell",
                    "type": "market",
                    "time_in_force": "day",
                    "client_order_id": "not-in-the-ledger",
                },
            ) as answer,
        ):
            assert answer.status == 200
        await asyncio.sleep(rig.broker.book.fill_delay)
        doctored = await tally(rig, "doctored")
    assert clean.ok, clean.as_json()
    assert doctored.lost_fills == 1, doctored.as_json()
    assert doctored.duplicated_hedges == 1, doctored.as_json()
    assert not doctored.books_match
    assert any(m.startswith("MSFT: ") for m in doctored.mismatches), doctored.mismatches
    assert missed[0].trade_id not in rig.view.live_counts()
