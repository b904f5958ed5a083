"""Hostile input through a live intake (skips with reasons, intake alive) and Pyth prices from traces."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from click.testing import CliRunner

from arbtui.chain import decode
from arbtui.chain.pyth import PythConfig, format_pyth_prices, get_pyth_prices
from arbtui.chain.signals import FillEnriched
from arbtui.cli import main
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.deploy import AAPL_FEED, MSFT_FEED, OUR_OWNER, ChainDriver, OrderTuple, order
from arbtui.domain.pyth_feeds import PythReadMode
from arbtui.store.ledger import Ledger
from tests.chain_support.logs import take_data
from tests.integration.chain.conftest import StartIntake, eventually, filled_counts, trade_events


async def test_hostile_logs_and_tokens_become_skips_and_intake_stays_alive(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    d, t = chain.deployment, chain.deployment.tokens
    running = await start_intake(ledger, poll_interval=0.1)
    send = asyncio.to_thread
    sell = order(OUR_OWNER, [(d.usdc, 6)], [(t["tAAPL"], 18)])

    def sells(token: str, decimals: int = 18) -> OrderTuple:
        return order(OUR_OWNER, [(d.usdc, 6)], [(token, decimals)])

    good = take_data(sell, 0, 0, 10**18, 10**8)
    equity_pair = order(OUR_OWNER, [(t["tMSFT"], 18)], [(t["tAAPL"], 18)])
    impostor_usdc = order(OUR_OWNER, [(t["fakeUSDC"], 6)], [(t["tAAPL"], 18)])
    no_code = "0x00000000000000000000000000000000DeaDBeef"
    cases = {
        "truncated": await send(chain.raw_log, [decode.TAKE_ORDER_V2], good[:150]),
        "topic_count": await send(chain.raw_log, [decode.TAKE_ORDER_V2, "0x" + "00" * 32], good),
        "bad_io_index": await send(chain.raw_log, [decode.TAKE_ORDER_V2], take_data(sell, 3, 0, 10**18, 10**8)),
        "unknown_token": await send(chain.take, [(sells(no_code), 0, 0, 10**18, 10**8)]),
        "symbol_reverts": await send(chain.take, [(sells(t["reverting"]), 0, 0, 10**18, 10**8)]),
        "garbage_symbol": await send(chain.take, [(sells(t["garbage"]), 0, 0, 10**18, 10**8)]),
        "absurd_decimals": await send(chain.take, [(sells(t["absurd"], 77), 0, 0, 10**18, 10**8)]),
        "decimals_mismatch": await send(chain.take, [(sells(t["tAAPL"], 6), 0, 0, 10**6, 10**8)]),
        "zero_amount": await send(chain.take, [(sell, 0, 0, 0, 10**8)]),
        "non_usdc_pair": await send(chain.take, [(equity_pair, 0, 0, 1, 1)]),
        "usdc_by_name": await send(chain.take, [(impostor_usdc, 0, 0, 1, 1)]),
        "no_marker": await send(chain.take, [(sells(t["plainAAPL"]), 0, 0, 10**18, 10**8)]),
        "lowercase_t": await send(chain.take, [(sells(t["tesla"]), 0, 0, 10**18, 10**8)]),
        "two_markers": await send(chain.take, [(sells(t["ambiguous"]), 0, 0, 10**18, 10**8)]),
        "missing_after_clear": await send(
            chain.clear, sell, order(OUR_OWNER, [(t["tAAPL"], 18)], [(d.usdc, 6)]), (0, 0, 0, 0), (1, 1, 1, 1),
            emit_after_clear=False,
        ),
    }  # fmt: skip
    healthy = await send(chain.take, [(sell, 0, 0, 10**18, 10**8)])
    expected = {
        "truncated": "malformed_log", "topic_count": "malformed_log", "bad_io_index": "malformed_log",
        "unknown_token": "unknown_token", "symbol_reverts": "symbol_unreadable", "garbage_symbol": "symbol_unreadable",
        "absurd_decimals": "bad_decimals", "decimals_mismatch": "bad_decimals", "zero_amount": "zero_amount",
        "non_usdc_pair": "non_usdc_pair", "usdc_by_name": "non_usdc_pair", "no_marker": "unsupported_symbol",
        "lowercase_t": "unsupported_symbol", "two_markers": "unsupported_symbol",
        "missing_after_clear": "missing_after_clear",
    }  # fmt: skip

    async def healthy_recorded() -> bool:
        return await filled_counts(ledger) == {f"{healthy.tx_hash}:0": 1}

    await eventually(healthy_recorded, what="the healthy fill after the hostile ones")
    skips = {tid: payload for tid, kind, payload in await trade_events(ledger) if kind == "FillSkipped"}
    by_tx = {tid.split(":")[0]: payload["skip"] for tid, payload in skips.items()}
    assert {name: by_tx[sent.tx_hash]["reason"] for name, sent in cases.items()} == expected
    assert len(skips) == len(cases) + 1  # missing AfterClear with both orders ours: two legs
    assert all(sent.tx_hash in by_tx[sent.tx_hash]["detail"] for sent in cases.values())
    assert not running.task.done()
    assert running.intake.sessions == 1


async def test_pyth_prices_recovered_exactly_from_the_trace(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, anvil: AnvilNode
) -> None:
    d = chain.deployment
    msft_time = await asyncio.to_thread(chain.push_price, MSFT_FEED, 41_523_456_789, 12_345_678, -8)
    aapl_time = await asyncio.to_thread(chain.push_price, AAPL_FEED, 18_712_345, 1_234, -5)
    # the trace path alone (`auto` would fall back to the block-end price for the transaction without a
    # read: test_chain_pyth_methods.py)
    running = await start_intake(ledger, poll_interval=0.1, pyth=PythConfig(address=d.pyth, method=PythReadMode.TRACE))
    sell = order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)])
    sell_msft = order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tMSFT"], 18)])
    unknown_feed = "0x" + "77" * 32  # MockPyth reverts for it: a frame with `error`, ignored
    both = await asyncio.to_thread(
        chain.take,
        [(sell, 0, 0, 10**18, 187 * 10**6), (sell_msft, 0, 0, 10**18, 415 * 10**6)],
        pyth_feeds=[MSFT_FEED, unknown_feed, AAPL_FEED],
    )
    without = await asyncio.to_thread(chain.take, [(sell, 0, 0, 10**18, 187 * 10**6)])

    def enriched() -> dict[str, FillEnriched]:
        return {str(s.trade_id): s for s in running.signals if isinstance(s, FillEnriched)}

    await eventually(lambda: len(enriched()) == 3, what="three enrichments")
    aapl = enriched()[f"{both.tx_hash}:0"].enrichment
    assert aapl.pyth_price is not None
    assert (aapl.pyth_price.feed_id, aapl.pyth_price.value, aapl.pyth_price.conf) == (AAPL_FEED, 18_712_345, 1_234)
    assert (aapl.pyth_price.expo, aapl.pyth_price.publish_time) == (-5, aapl_time)
    assert aapl.pyth_price.price == Decimal("187.12345")
    assert aapl.gas_used == both.gas_used
    msft = enriched()[f"{both.tx_hash}:1"].enrichment
    assert msft.pyth_price is not None
    assert msft.pyth_price.price == Decimal("415.23456789")
    assert msft.pyth_price.publish_time == msft_time
    none = enriched()[f"{without.tx_hash}:0"].enrichment
    assert none.pyth_price is None
    assert "no Pyth price read" in none.detail
    assert await filled_counts(ledger) == {f"{both.tx_hash}:0": 1, f"{both.tx_hash}:1": 1, f"{without.tx_hash}:0": 1}
    enrich_events = [tid for tid, kind, _ in await trade_events(ledger) if kind == "Enriched"]
    assert sorted(enrich_events) == sorted(enriched())

    # the CLI function: every read in the transaction, in call order
    trace = await get_pyth_prices(anvil.http_url, both.tx_hash, PythConfig(address=d.pyth))
    assert [c.price.feed_id for c in trace.calls] == [MSFT_FEED, AAPL_FEED]
    text = format_pyth_prices(trace)
    assert "415.23456789" in text
    assert "187.12345" in text
    empty = await get_pyth_prices(anvil.http_url, without.tx_hash, PythConfig(address=d.pyth))
    assert format_pyth_prices(empty).startswith("No Pyth price read found")

    # `arbtui get-pyth-price TX_HASH` as an operator runs it
    cli = CliRunner()
    printed = await asyncio.to_thread(
        cli.invoke, main, ["get-pyth-price", both.tx_hash, "--rpc", anvil.http_url, "--pyth", d.pyth]
    )
    assert printed.exit_code == 0, printed.output
    assert "415.23456789" in printed.output
    assert "187.12345" in printed.output
    printed = await asyncio.to_thread(
        cli.invoke, main, ["get-pyth-price", without.tx_hash, "--rpc", anvil.http_url, "--pyth", d.pyth]
    )
    assert printed.exit_code == 0
    assert printed.output.startswith("No Pyth price read found")
    printed = await asyncio.to_thread(cli.invoke, main, ["get-pyth-price", without.tx_hash])
    assert printed.exit_code == 2
    assert "give --rpc and --pyth" in printed.output
