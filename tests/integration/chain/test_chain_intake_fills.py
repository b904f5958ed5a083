"""Intake against a real anvil node: fills of every shape reach the ledger exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from arbtui.chain.decode import DecodeConfig
from arbtui.chain.signals import BackfillProgress, IntakeState, IntakeStatus
from arbtui.demo.deploy import OTHER_OWNER, OUR_OWNER, ChainDriver, OrderTuple, order
from arbtui.store.ledger import Ledger
from tests.integration.chain.conftest import StartIntake, eventually, filled_counts, trade_events


def _orders(chain: ChainDriver) -> dict[str, OrderTuple]:
    d = chain.deployment
    return {
        "sell_aapl": order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)]),
        "buy_aapl": order(OUR_OWNER, [(d.tokens["tAAPL"], 18)], [(d.usdc, 6)]),
        "buy_nvda": order(OUR_OWNER, [(d.tokens["NVDAs1"], 9)], [(d.usdc, 6)]),
        "theirs": order(OTHER_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)]),
        "their_buy": order(OTHER_OWNER, [(d.tokens["tAAPL"], 18)], [(d.usdc, 6)]),
    }


async def test_take_and_clear_fills_of_every_shape(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    o = _orders(chain)
    running = await start_intake(ledger)
    await eventually(lambda: _live(running.signals), what="intake live")
    send = asyncio.to_thread
    # 1 take of our sell (taker got 2.5 tAAPL, paid 468.75 USDC), and one of another owner's order
    t1 = await send(chain.take, [(o["sell_aapl"], 0, 0, 25 * 10**17, 468_750_000), (o["theirs"], 0, 0, 10**18, 1)])
    # 2 buy with asymmetric decimals (9-decimal NVDAs1): taker got 100.000001 USDC, paid 0.75 NVDA
    t2 = await send(chain.take, [(o["buy_nvda"], 0, 0, 100_000_001, 750_000_000)])
    # 3 clear: we are alice (sell 3 tAAPL for 600 USDC)
    c1 = await send(
        chain.clear, o["sell_aapl"], o["their_buy"], (0, 0, 0, 0), (3 * 10**18, 600_000_000, 600_000_000, 3 * 10**18)
    )
    # 4 clear: we are bob (buy 2 tAAPL for 380 USDC)
    c2 = await send(
        chain.clear, o["theirs"], o["buy_aapl"], (0, 0, 0, 0), (2 * 10**18, 380_000_000, 380_000_000, 2 * 10**18)
    )
    # 5 clear: both ours → two fills
    c3 = await send(
        chain.clear, o["sell_aapl"], o["buy_aapl"], (0, 0, 0, 0), (10**18, 190_000_000, 190_000_000, 10**18)
    )
    # 6 three of our takes in one transaction
    t3 = await send(chain.take, [(o["sell_aapl"], 0, 0, (i + 1) * 10**18, 100_000_000) for i in range(3)])
    expected = {
        f"{t1.tx_hash}:0", f"{t2.tx_hash}:0", f"{c1.tx_hash}:0", f"{c2.tx_hash}:0",
        f"{c3.tx_hash}:0", f"{c3.tx_hash}:0:1", f"{t3.tx_hash}:0", f"{t3.tx_hash}:1", f"{t3.tx_hash}:2",
    }  # fmt: skip

    async def all_there() -> bool:
        return set(await filled_counts(ledger)) >= expected

    await eventually(all_there, what="all fills")
    await running.stop()
    counts = await filled_counts(ledger)
    assert counts == dict.fromkeys(expected, 1)
    fills = {tid: payload["fill"] for tid, kind, payload in await trade_events(ledger) if kind == "Filled"}
    assert _summary(fills[f"{t1.tx_hash}:0"]) == ("AAPL", "SELL", "2.5", "468.75", "187.5")
    assert _summary(fills[f"{t2.tx_hash}:0"])[:4] == ("NVDA", "BUY", "0.75", "100.000001")
    assert _summary(fills[f"{c1.tx_hash}:0"]) == ("AAPL", "SELL", "3", "600", "200")
    assert _summary(fills[f"{c2.tx_hash}:0"]) == ("AAPL", "BUY", "2", "380", "190")
    assert _summary(fills[f"{c3.tx_hash}:0"])[:2] == ("AAPL", "SELL")
    assert _summary(fills[f"{c3.tx_hash}:0:1"])[:2] == ("AAPL", "BUY")
    assert [_summary(fills[f"{t3.tx_hash}:{i}"])[2] for i in range(3)] == ["1", "2", "3"]
    # ledger order follows chain order within the transaction
    order_seen = [tid for tid, kind, _ in await trade_events(ledger) if kind == "Filled" and tid.startswith(t3.tx_hash)]
    assert order_seen == [f"{t3.tx_hash}:{i}" for i in range(3)]


def _summary(fill: dict[str, object]) -> tuple[str, ...]:
    price = Decimal(str(fill["price_usdc"])).normalize()
    return (str(fill["symbol"]), str(fill["direction"]), str(fill["amount"]), str(fill["usdc_amount"]), f"{price:f}")


def _live(signals: Sequence[object]) -> bool:
    return any(isinstance(s, IntakeStatus) and s.state is IntakeState.LIVE for s in signals)


async def test_both_take_order_topic_hashes(chain: ChainDriver, ledger: Ledger, start_intake: StartIntake) -> None:
    """Lesson 30: an emitter compiled with the bytes32[] signed-context form is heard too."""
    o = _orders(chain)
    d = chain.deployment
    a = await asyncio.to_thread(chain.take, [(o["sell_aapl"], 0, 0, 10**18, 150_000_000)])
    b = await asyncio.to_thread(chain.take, [(o["sell_aapl"], 0, 0, 10**18, 150_000_000)], bytes32_form=True)
    uint_form = await start_intake(ledger, ws_url=None)
    await eventually(lambda: _live(uint_form.signals), what="live")
    await uint_form.stop()
    assert (await filled_counts(ledger)) == {f"{a.tx_hash}:0": 1}
    bytes32_ledger = await Ledger.open(ledger.store.path.parent / "b32.db")
    try:
        other = await start_intake(
            bytes32_ledger, ws_url=None, decode=DecodeConfig(orderbook=d.bytes32_emitter, owner=OUR_OWNER, usdc=d.usdc)
        )
        await eventually(lambda: _live(other.signals), what="live")
        await other.stop()
        assert (await filled_counts(bytes32_ledger)) == {f"{b.tx_hash}:0": 1}
    finally:
        await bytes32_ledger.close()


async def test_restart_backfills_the_downtime_without_duplicates(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    o = _orders(chain)
    first = await start_intake(ledger, chunk_blocks=3)
    before = [await asyncio.to_thread(chain.take, [(o["sell_aapl"], 0, 0, 10**18, 10**8)]) for _ in range(3)]

    async def first_three() -> bool:
        return len(await filled_counts(ledger)) == 3

    await eventually(first_three, what="fills before the restart")
    await first.stop()
    during = [await asyncio.to_thread(chain.take, [(o["buy_aapl"], 0, 0, 10**8, 10**18)]) for _ in range(7)]
    second = await start_intake(ledger, chunk_blocks=3)

    async def all_ten() -> bool:
        return len(await filled_counts(ledger)) == 10

    await eventually(all_ten, what="downtime backfilled")
    await second.stop()
    assert await filled_counts(ledger) == {f"{s.tx_hash}:0": 1 for s in before + during}
    progress = [s for s in second.signals if isinstance(s, BackfillProgress)]
    assert len(progress) >= 3  # 7 blocks in chunks of 3
    assert progress[-1].done_through == progress[-1].target


async def test_http_polling_only(chain: ChainDriver, ledger: Ledger, start_intake: StartIntake) -> None:
    o = _orders(chain)
    running = await start_intake(ledger, ws_url=None, poll_interval=0.05)
    sent = [await asyncio.to_thread(chain.take, [(o["sell_aapl"], 0, 0, 10**18, 10**8)]) for _ in range(5)]

    async def five() -> bool:
        return len(await filled_counts(ledger)) == 5

    await eventually(five, what="polled fills")
    await running.stop()
    assert await filled_counts(ledger) == {f"{s.tx_hash}:0": 1 for s in sent}


async def test_confirmation_depth_holds_fills_back(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    o = _orders(chain)
    running = await start_intake(ledger, confirmations=2, poll_interval=0.05)
    sent = await asyncio.to_thread(chain.take, [(o["sell_aapl"], 0, 0, 10**18, 10**8)])
    await asyncio.to_thread(chain.mine, 1)
    passes = running.intake.passes
    await eventually(lambda: running.intake.passes >= passes + 3, what="a few passes")
    assert await filled_counts(ledger) == {}
    await asyncio.to_thread(chain.mine, 1)

    async def recorded() -> bool:
        return await filled_counts(ledger) == {f"{sent.tx_hash}:0": 1}

    await eventually(recorded, what="fill after 2 confirmations")
