"""Pyth without a tracer, against anvil + Pyth's MockPyth: the trace path, and the block-end ``eth_call``
fallback behind a proxy that answers ``debug_traceTransaction`` with "method not found" — both give the
pushed price, and each price records the method that produced it (event, view, ``get-pyth-price``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from arbtui.chain.pyth import PythConfig
from arbtui.chain.signals import FillEnriched
from arbtui.cli import main
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.deploy import AAPL_FEED, OUR_OWNER, ChainDriver, Sent, order
from arbtui.domain.onchain_trade import Enrich, PythMethod
from arbtui.domain.pyth_feeds import PythReadMode
from arbtui.store.ledger import Ledger
from arbtui.store.migrate import connect_sync
from tests.chain_support.proxy import RpcProxy
from tests.integration.chain.conftest import StartIntake, eventually

PRICE = Decimal("187.12345")


@pytest.fixture
async def no_tracer(anvil: AnvilNode) -> AsyncIterator[RpcProxy]:
    running = RpcProxy(anvil.http_url, anvil.ws_url, refuse_methods={"debug_traceTransaction"})
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def _fills(chain: ChainDriver) -> tuple[Sent, Sent]:
    """Two sells of tAAPL: the first reads Pyth in its transaction, the second does not."""
    d = chain.deployment
    await asyncio.to_thread(chain.push_price, AAPL_FEED, 18_712_345, 1_234, -5)
    sell = order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)])
    reads = await asyncio.to_thread(chain.take, [(sell, 0, 0, 10**18, 187 * 10**6)], pyth_feeds=[AAPL_FEED])
    silent = await asyncio.to_thread(chain.take, [(sell, 0, 0, 10**18, 187 * 10**6)])
    return reads, silent


async def _enrichments(
    start_intake: StartIntake, path: Path, mode: PythReadMode, chain: ChainDriver, http_url: str | None = None
) -> dict[str, Enrich]:
    """Run an intake on a fresh ledger until both fills are enriched; the enrichment per tx hash."""
    ledger = await Ledger.open(path)
    try:
        overrides: dict[str, object] = {"ws_url": None, "poll_interval": 0.1}
        if http_url is not None:
            overrides["http_url"] = http_url
        pyth = PythConfig(address=chain.deployment.pyth, method=mode)
        running = await start_intake(ledger, pyth=pyth, **overrides)

        def enriched() -> dict[str, Enrich]:
            return {s.trade_id.tx_hash: s.enrichment for s in running.signals if isinstance(s, FillEnriched)}

        await eventually(lambda: len(enriched()) == 2, what=f"two enrichments ({mode})")
        await running.stop()
        return enriched()
    finally:
        await ledger.close()


async def test_trace_and_block_end_both_give_the_pushed_price_and_say_how(
    chain: ChainDriver, start_intake: StartIntake, no_tracer: RpcProxy, tmp_path: Path
) -> None:
    reads, silent = await _fills(chain)

    auto = await _enrichments(start_intake, tmp_path / "auto.db", PythReadMode.AUTO, chain)
    traced = auto[reads.tx_hash].pyth_price
    assert traced is not None
    assert (traced.price, traced.method, traced.feed_id) == (PRICE, PythMethod.TRACE, AAPL_FEED)
    fallback = auto[silent.tx_hash].pyth_price  # the trace holds no Pyth read: auto falls back
    assert fallback is not None
    assert (fallback.price, fallback.method) == (PRICE, PythMethod.BLOCK_END)
    assert f"end of block {silent.block_number}" in auto[silent.tx_hash].detail
    assert "no Pyth price read" in auto[silent.tx_hash].detail
    # the view's payload carries the method
    conn = connect_sync(tmp_path / "auto.db", readonly=True)
    try:
        views = {str(v): json.loads(p) for v, p in conn.execute("SELECT view_id, payload FROM onchain_trade_view")}
    finally:
        conn.close()
    assert views[f"{reads.tx_hash}:0"]["pyth_price"]["method"] == "trace"
    assert views[f"{silent.tx_hash}:0"]["pyth_price"]["method"] == "block_end"
    assert views[f"{silent.tx_hash}:0"]["pyth_price"]["price"] == "187.12345"

    # a node without a debug namespace: auto reads both prices at the end of their blocks
    refused = no_tracer.counters.refused_calls
    blind = await _enrichments(start_intake, tmp_path / "blind.db", PythReadMode.AUTO, chain, no_tracer.http_url)
    assert no_tracer.counters.refused_calls >= refused + 2  # the lie was told, for each transaction
    for sent in (reads, silent):
        price = blind[sent.tx_hash].pyth_price
        assert price is not None
        assert (price.price, price.method, price.publish_time) == (PRICE, PythMethod.BLOCK_END, traced.publish_time)
        assert "no_debug_namespace" in blind[sent.tx_hash].detail

    # `trace` never uses eth_call: nothing behind the refusing proxy, nothing for the silent transaction
    only_trace = await _enrichments(start_intake, tmp_path / "trace.db", PythReadMode.TRACE, chain, no_tracer.http_url)
    assert all(e.pyth_price is None for e in only_trace.values())
    assert all("no_debug_namespace" in e.detail and "block" not in e.detail for e in only_trace.values())
    direct = await _enrichments(start_intake, tmp_path / "trace2.db", PythReadMode.TRACE, chain)
    assert direct[silent.tx_hash].pyth_price is None
    assert (p := direct[reads.tx_hash].pyth_price) is not None
    assert p.method is PythMethod.TRACE

    # `eth_call` only: the block-end price even where a trace would have had the read
    by_call = await _enrichments(start_intake, tmp_path / "call.db", PythReadMode.ETH_CALL, chain)
    for sent in (reads, silent):
        price = by_call[sent.tx_hash].pyth_price
        assert price is not None
        assert (price.price, price.method) == (PRICE, PythMethod.BLOCK_END)


async def test_get_pyth_price_says_which_method_produced_each_price(
    chain: ChainDriver, anvil: AnvilNode, no_tracer: RpcProxy
) -> None:
    reads, silent = await _fills(chain)
    pyth = chain.deployment.pyth
    cli = CliRunner()

    def run(tx: str, rpc: str, *extra: str) -> tuple[int, str]:
        result = cli.invoke(main, ["get-pyth-price", tx, "--rpc", rpc, "--pyth", pyth, *extra])
        return result.exit_code, result.output

    code, text = await asyncio.to_thread(run, reads.tx_hash, anvil.http_url)
    assert code == 0, text
    assert "method       trace" in text
    assert "187.12345" in text
    assert "block_end" not in text

    code, text = await asyncio.to_thread(run, reads.tx_hash, no_tracer.http_url)
    assert code == 0, text
    assert f"Pyth prices at the end of block {reads.block_number}" in text
    assert "no_debug_namespace" in text
    assert "method       block_end" in text
    assert "187.12345" in text
    assert "(AAPL)" in text

    code, text = await asyncio.to_thread(run, silent.tx_hash, anvil.http_url)
    assert code == 0, text
    assert text.startswith("No Pyth price read found")  # the trace's answer first, then the fallback
    assert "method       block_end" in text
    assert "187.12345" in text

    code, text = await asyncio.to_thread(run, reads.tx_hash, no_tracer.http_url, "--method", "trace")
    assert code == 1
    assert "no_debug_namespace" in text
    assert "block_end" not in text

    code, text = await asyncio.to_thread(run, reads.tx_hash, anvil.http_url, "--method", "eth_call")
    assert code == 0, text
    assert "method       block_end" in text
    assert "method       trace" not in text
