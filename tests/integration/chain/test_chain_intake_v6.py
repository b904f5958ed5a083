"""V5/V6 fills against a real anvil: the V6 orderbook stand-in (solc-js) emits the real ``TakeOrderV3`` /
``ClearV3`` + ``AfterClearV2`` ABI with Float bytes made by Rain's own ``@rainlanguage/float`` (never
arbtui's encoder), beside the V4 stand-in; one intake reads both books into the same positions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from decimal import Decimal

import pytest
from eth_utils.abi import event_abi_to_log_topic

from arbtui.chain import decode
from arbtui.chain.decode import DecodeConfig
from arbtui.chain.signals import AlertKind, IntakeState, IntakeStatus
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import OTHER_OWNER, OUR_OWNER, ChainDriver, order, order_v6
from arbtui.store.ledger import Ledger
from tests.chain_support.rain_float import rain_parse
from tests.integration.chain.conftest import RunningIntake, StartIntake, eventually, filled_counts, trade_events

AMOUNTS = [
    "2.5", "468.75", "0.75", "100.000001", "1.25", "123.456789", "3", "600", "2", "380", "1", "190",
    "0.0000000000000000001", "0", "-2.5", "0.0000001", "187", "0.5",
]  # fmt: skip


@pytest.fixture(scope="module")
def f() -> Mapping[str, bytes]:
    """Float bytes by decimal text, from Rain's library (``Float.parse(text).asHex()``)."""
    return dict(zip(AMOUNTS, rain_parse(AMOUNTS), strict=True))


def both_books(chain: ChainDriver) -> DecodeConfig:
    d = chain.deployment
    return DecodeConfig(orderbooks=(d.orderbook, d.orderbook_v6), owner=OUR_OWNER, usdc=d.usdc)


def _live(running: RunningIntake) -> bool:
    return any(isinstance(s, IntakeStatus) and s.state is IntakeState.LIVE for s in running.signals)


def _summary(fill: Mapping[str, object]) -> tuple[str, ...]:
    price = Decimal(str(fill["price_usdc"])).normalize()
    return (str(fill["symbol"]), str(fill["direction"]), str(fill["amount"]), str(fill["usdc_amount"]), f"{price:f}")


def test_the_compiled_v6_stand_in_emits_the_reference_topics(artifacts: dict[str, Artifact]) -> None:
    topics = {
        e["name"]: "0x" + event_abi_to_log_topic(e).hex()  # type: ignore[arg-type]
        for e in artifacts["OrderBookV6StandIn"].abi
        if e["type"] == "event"
    }
    assert topics == {
        "TakeOrderV3": decode.TAKE_ORDER_V3,
        "ClearV3": decode.CLEAR_V3,
        "AfterClearV2": decode.AFTER_CLEAR_V2,
    }


async def test_v6_takes_and_clears_beside_v4_into_one_position_per_symbol(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, f: Mapping[str, bytes]
) -> None:
    d = chain.deployment
    t = d.tokens
    running = await start_intake(ledger, decode=both_books(chain))
    await eventually(lambda: _live(running), what="intake live")
    send = asyncio.to_thread
    sell_aapl = order_v6(OUR_OWNER, [d.usdc], [t["tAAPL"]])
    buy_aapl = order_v6(OUR_OWNER, [t["tAAPL"]], [d.usdc])
    buy_nvda = order_v6(OUR_OWNER, [t["NVDAs1"]], [d.usdc], vault_id=0)  # vaultless
    buy_brk = order_v6(OUR_OWNER, [t["tBRK"]], [d.usdc])
    theirs = order_v6(OTHER_OWNER, [d.usdc], [t["tAAPL"]])
    their_buy = order_v6(OTHER_OWNER, [t["tAAPL"]], [d.usdc])
    # V6 take of our sell: the taker got 2.5 tAAPL (its input) and paid 468.75 USDC; another owner's order
    t1 = await send(chain.take_v6, [(sell_aapl, 0, 0, f["2.5"], f["468.75"]), (theirs, 0, 0, f["1"], f["1"])])
    # asymmetric decimals: 9-decimal NVDAs1 (we buy 0.75 for 100.000001) and 2-decimal tBRK (1.25 for 123.456789)
    t2 = await send(chain.take_v6, [(buy_nvda, 0, 0, f["100.000001"], f["0.75"])])
    t3 = await send(chain.take_v6, [(buy_brk, 0, 0, f["123.456789"], f["1.25"])])
    # clears: we are alice (sell 3 for 600), bob (buy 2 for 380), both (1 for 190 each way)
    c1 = await send(chain.clear_v6, sell_aapl, their_buy, (0, 0, 0, 0), (f["3"], f["600"], f["600"], f["3"]))
    c2 = await send(chain.clear_v6, theirs, buy_aapl, (0, 0, 0, 0), (f["2"], f["380"], f["380"], f["2"]))
    c3 = await send(chain.clear_v6, sell_aapl, buy_aapl, (0, 0, 0, 0), (f["1"], f["190"], f["190"], f["1"]))
    # and a V4 fill of the same symbol on the V4 book: the same AAPL position
    v4_buy = order(OUR_OWNER, [(t["tAAPL"], 18)], [(d.usdc, 6)])
    t4 = await send(chain.take, [(v4_buy, 0, 0, 187_000_000, 10**18)])
    expected = {
        f"{t1.tx_hash}:0", f"{t2.tx_hash}:0", f"{t3.tx_hash}:0", f"{c1.tx_hash}:0", f"{c2.tx_hash}:0",
        f"{c3.tx_hash}:0", f"{c3.tx_hash}:0:1", f"{t4.tx_hash}:0",
    }  # fmt: skip

    async def all_there() -> bool:
        return set(await filled_counts(ledger)) >= expected

    await eventually(all_there, what="every fill")
    await running.stop()
    assert await filled_counts(ledger) == dict.fromkeys(expected, 1)
    fills = {tid: p["fill"] for tid, kind, p in await trade_events(ledger) if kind == "Filled"}
    assert _summary(fills[f"{t1.tx_hash}:0"]) == ("AAPL", "SELL", "2.5", "468.75", "187.5")
    assert _summary(fills[f"{t2.tx_hash}:0"]) == ("NVDA", "BUY", "0.75", "100.000001", "133.3333346666666666666666667")
    assert _summary(fills[f"{t3.tx_hash}:0"]) == ("BRK", "BUY", "1.25", "123.456789", "98.7654312")
    assert _summary(fills[f"{c1.tx_hash}:0"]) == ("AAPL", "SELL", "3", "600", "200")
    assert _summary(fills[f"{c2.tx_hash}:0"]) == ("AAPL", "BUY", "2", "380", "190")
    assert _summary(fills[f"{c3.tx_hash}:0"]) == ("AAPL", "SELL", "1", "190", "190")
    assert _summary(fills[f"{c3.tx_hash}:0:1"]) == ("AAPL", "BUY", "1", "190", "190")
    assert _summary(fills[f"{t4.tx_hash}:0"]) == ("AAPL", "BUY", "1", "187", "187")
    raw = {
        tid: (fl["shares_raw"], fl["share_decimals"], fl["usdc_raw"], fl["usdc_decimals"]) for tid, fl in fills.items()
    }
    assert raw[f"{t1.tx_hash}:0"] == (25 * 10**17, 18, 468_750_000, 6)
    assert raw[f"{t2.tx_hash}:0"] == (750_000_000, 9, 100_000_001, 6)
    assert raw[f"{t3.tx_hash}:0"] == (125, 2, 123_456_789, 6)
    books = {tid: (fl["source_event"], fl["orderbook"]) for tid, fl in fills.items()}
    assert books[f"{t1.tx_hash}:0"] == ("TakeOrderV3", d.orderbook_v6.lower())
    assert books[f"{c1.tx_hash}:0"] == ("ClearV3", d.orderbook_v6.lower())
    assert books[f"{t4.tx_hash}:0"] == ("TakeOrderV2", d.orderbook.lower())
    positions = {
        str(s): json.loads(str(p)) for s, p in await ledger.store.query("SELECT view_id, payload FROM position_view")
    }
    assert set(positions) == {"AAPL", "NVDA", "BRK"}
    # AAPL: -2.5 (V6 take) -3 (alice) +2 (bob) -1 +1 (both) +1 (V4 take) = -2.5
    assert Decimal(positions["AAPL"]["accumulated_long"]) - Decimal(positions["AAPL"]["accumulated_short"]) == Decimal(
        "-2.5"
    )


async def test_bad_v6_input_is_skipped_with_its_reason_and_intake_stays_alive(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, f: Mapping[str, bytes]
) -> None:
    d = chain.deployment
    running = await start_intake(ledger, decode=both_books(chain), poll_interval=0.2)
    await eventually(lambda: _live(running), what="intake live")
    send = asyncio.to_thread
    sell = order_v6(OUR_OWNER, [d.usdc], [d.tokens["tAAPL"]])
    their_buy = order_v6(OTHER_OWNER, [d.tokens["tAAPL"]], [d.usdc])
    too_fine = await send(chain.take_v6, [(sell, 0, 0, f["0.0000000000000000001"], f["1"])])  # 1e-19 tAAPL
    too_fine_usdc = await send(chain.take_v6, [(sell, 0, 0, f["1"], f["0.0000001"])])  # 1e-7 USDC
    zero = await send(chain.take_v6, [(sell, 0, 0, f["0"], f["1"])])
    negative = await send(chain.take_v6, [(sell, 0, 0, f["-2.5"], f["1"])])
    good = await asyncio.to_thread(chain.take_v6, [(sell, 0, 0, f["1"], f["187"])])
    data = _take_v3_data(chain, sell, f["1"], f["187"])
    truncated = await send(chain.raw_log_v6, [decode.TAKE_ORDER_V3], data[: len(data) - 7])
    lone_clear = await send(chain.clear_v6, sell, their_buy, (0, 0, 0, 0), (f["1"], f["1"], f["1"], f["1"]),
                            emit_after_clear=False)  # fmt: skip
    unknown_topic = "0x" + "7e" * 32  # a future orderbook generation's event
    first_unknown = await send(chain.raw_log_v6, [unknown_topic], b"\x00" * 64)
    await send(chain.raw_log_v6, [unknown_topic], b"\x01" * 64)  # the same topic again: no second alert
    after = await send(chain.take_v6, [(sell, 0, 0, f["0.5"], f["187"])])

    async def recorded() -> bool:
        return f"{after.tx_hash}:0" in await filled_counts(ledger)

    await eventually(recorded, what="the fill after the bad input")
    await eventually(lambda: any(a.kind is AlertKind.UNKNOWN_TOPIC for a in running.alerts()), what="alert")
    await asyncio.sleep(0.5)  # a few more watch intervals: still one alert
    assert not running.task.done()
    await running.stop()
    skips = {tid: p["skip"] for tid, kind, p in await trade_events(ledger) if kind == "FillSkipped"}
    assert {tid: s["reason"] for tid, s in skips.items()} == {
        f"{too_fine.tx_hash}:0": "too_many_decimals",
        f"{too_fine_usdc.tx_hash}:0": "too_many_decimals",
        f"{zero.tx_hash}:0": "zero_amount",
        f"{negative.tx_hash}:0": "zero_amount",
        f"{truncated.tx_hash}:0": "malformed_log",
        f"{lone_clear.tx_hash}:0": "missing_after_clear",
    }
    assert "decimals() = 18" in skips[f"{too_fine.tx_hash}:0"]["detail"]
    assert "decimals() = 6" in skips[f"{too_fine_usdc.tx_hash}:0"]["detail"]
    assert "TakeOrderV3 data does not decode" in skips[f"{truncated.tx_hash}:0"]["detail"]
    assert "ClearV3 without a following AfterClearV2" in skips[f"{lone_clear.tx_hash}:0"]["detail"]
    assert await filled_counts(ledger) == {f"{good.tx_hash}:0": 1, f"{after.tx_hash}:0": 1}
    unknown = [a for a in running.alerts() if a.kind is AlertKind.UNKNOWN_TOPIC]
    assert len(unknown) == 1
    assert unknown[0].context == {
        "orderbook": d.orderbook_v6.lower(),
        "topic": unknown_topic,
        "block": first_unknown.block_number,
        "tx": first_unknown.tx_hash,
    }
    assert unknown_topic in unknown[0].message
    assert str(first_unknown.block_number) in unknown[0].message


def _take_v3_data(chain: ChainDriver, taken: object, taker_input: bytes, taker_output: bytes) -> bytes:
    from eth_abi.abi import encode

    from arbtui.chain.abi import RAINDEX_V6, event_data_types

    return encode(
        event_data_types("TakeOrderV3", RAINDEX_V6), [chain.sender, (taken, 0, 0, []), taker_input, taker_output]
    )
