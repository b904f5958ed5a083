"""ERC-4626 wrapped equities through a live intake on anvil: the hedge sizes on ``convertToAssets`` read at
the fill's block; a wrapper whose rate cannot be read, and a ``wt`` token that is no vault, are skipped
fills with their reason while intake stays alive. Exercised on the V4 stand-in: the unwrapping reads only
the decoded fill (token, amount, block), whatever orderbook version produced it."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from eth_typing import ChecksumAddress

from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import OTHER_OWNER, OUR_OWNER, TX_GAS, ChainDriver, deployer, order
from arbtui.store.ledger import Ledger
from arbtui.store.migrate import connect_sync
from arbtui.store.rebuild import check_views, rebuild_views
from tests.integration.chain.conftest import StartIntake, eventually, filled_counts, trade_events

E18 = 10**18


def _set_rate(chain: ChainDriver, artifacts: dict[str, Artifact], vault: ChecksumAddress, num: int, den: int) -> int:
    contract = chain.w3.eth.contract(address=vault, abi=artifacts["TestVault"].abi)
    tx = contract.functions.setRate(num, den).transact({"from": chain.sender, "gas": TX_GAS})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return int(receipt["blockNumber"])


def _views(path: Any) -> dict[str, dict[str, Any]]:
    conn = connect_sync(path, readonly=True)
    try:
        return {str(v): json.loads(p) for v, p in conn.execute("SELECT view_id, payload FROM onchain_trade_view")}
    finally:
        conn.close()


async def test_wrapped_fills_hedge_the_underlying_at_the_fill_block_rate(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, anvil: AnvilNode, artifacts: dict[str, Artifact]
) -> None:
    d, t = chain.deployment, chain.deployment.tokens
    deploy = deployer(anvil.http_url, artifacts)
    wt_aapl = deploy("TestVault", "wtAAPL", 18, t["tAAPL"], 5, 4)  # 1.25 tAAPL per wtAAPL
    wt_nvda = deploy("TestVault", "wtNVDA", 18, t["NVDAs1"], 3, 4 * 10**9)  # 18-dec wrapper of a 9-dec token
    sell = order(OUR_OWNER, [(d.usdc, 6)], [(wt_aapl, 18)])
    buy = order(OUR_OWNER, [(wt_aapl, 18)], [(d.usdc, 6)])
    their_sell = order(OTHER_OWNER, [(d.usdc, 6)], [(wt_aapl, 18)])
    send = asyncio.to_thread
    # we sell 2 wtAAPL (= 2.5 tAAPL) for 468.75 USDC: the taker got the wrapper shares (event `input`)
    take = await send(chain.take, [(sell, 0, 0, 2 * E18, 468_750_000)])
    # we are bob in a clear and buy 4 wtAAPL (= 5 tAAPL) for 750 USDC
    clear = await send(chain.clear, their_sell, buy, (0, 0, 0, 0), (4 * E18, 750_000_000, 750_000_000, 4 * E18))
    # asymmetric decimals: 1 wtNVDA (18 decimals) = 0.75 NVDAs1 (9 decimals), sold for 90 USDC
    nvda = await send(chain.take, [(order(OUR_OWNER, [(d.usdc, 6)], [(wt_nvda, 18)]), 0, 0, E18, 90_000_000)])
    # the vault's rate moves *after* the fills: intake (started only now) must use the rate at each fill's block
    moved_at = await send(_set_rate, chain, artifacts, wt_aapl, 2, 1)
    assert moved_at > clear.block_number
    running = await start_intake(ledger, poll_interval=0.1)
    expected = {f"{take.tx_hash}:0", f"{clear.tx_hash}:0", f"{nvda.tx_hash}:0"}

    async def recorded() -> bool:
        return set(await filled_counts(ledger)) == expected

    await eventually(recorded, what="the wrapped fills")
    fills = {tid: p["fill"] for tid, kind, p in await trade_events(ledger) if kind == "Filled"}
    sold = fills[f"{take.tx_hash}:0"]
    assert (sold["symbol"], sold["direction"], sold["token_symbol"]) == ("AAPL", "SELL", "wtAAPL")
    assert (sold["amount"], sold["usdc_amount"], Decimal(sold["price_usdc"])) == ("2.5", "468.75", Decimal("187.5"))
    assert (sold["shares_raw"], sold["share_decimals"]) == (25 * 10**17, 18)
    assert sold["unwrapped"] == {
        "wrapper_amount": "2",
        "wrapper_raw": 2 * E18,
        "wrapper_decimals": 18,
        "asset_address": t["tAAPL"].lower(),
        "asset_symbol": "tAAPL",
        "rate": "1.25",
    }
    bought = fills[f"{clear.tx_hash}:0"]
    assert (bought["direction"], bought["amount"], Decimal(bought["price_usdc"])) == ("BUY", "5", Decimal(150))
    assert bought["unwrapped"]["wrapper_amount"] == "4"
    small = fills[f"{nvda.tx_hash}:0"]
    assert (small["symbol"], small["amount"], small["shares_raw"], small["share_decimals"]) == (
        "NVDA",
        "0.75",
        75 * 10**7,
        9,
    )
    assert (Decimal(small["price_usdc"]), small["unwrapped"]["rate"]) == (Decimal(120), "0.75")

    # the position (what the hedge sizes on) is in underlying shares: -2.5 + 5
    rows = await ledger.store.query("SELECT payload FROM position_view WHERE view_id = 'AAPL'")
    pos = json.loads(str(rows[0][0]))
    assert (pos["accumulated_long"], pos["accumulated_short"]) == ("5", "2.5")

    # the view: amount = underlying shares, the wrapper amount and rate in the payload; rebuildable
    views = _views(ledger.store.path)
    row = views[f"{take.tx_hash}:0"]
    assert (row["amount"], row["price_usdc"]) == ("2.5", sold["price_usdc"])
    assert row["wrapper"] == {
        "token_symbol": "wtAAPL",
        "token_address": wt_aapl.lower(),
        "amount": "2",
        "raw": str(2 * E18),
        "decimals": 18,
        "rate": "1.25",
        "asset_address": t["tAAPL"].lower(),
        "asset_symbol": "tAAPL",
    }
    await running.stop()
    assert check_views(ledger.store.path) == []
    conn = connect_sync(ledger.store.path)
    try:
        rebuild_views(conn)
    finally:
        conn.close()
    assert _views(ledger.store.path) == views


async def test_unreadable_wrappers_are_skipped_with_their_reason_and_intake_stays_alive(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, anvil: AnvilNode, artifacts: dict[str, Artifact]
) -> None:
    d, t = chain.deployment, chain.deployment.tokens
    deploy = deployer(anvil.http_url, artifacts)
    reverting = deploy("RevertingRateVault", "wtMSFT", 18, t["tMSFT"])
    not_a_vault = deploy("TestToken", "Not a vault", "wtTSLA", 18)
    mismatched = deploy("TestVault", "wtGOOG", 18, t["tAAPL"], 1, 1)  # says GOOG, wraps tAAPL
    running = await start_intake(ledger, poll_interval=0.1)
    send = asyncio.to_thread

    def sells(token: ChecksumAddress) -> Any:
        return order(OUR_OWNER, [(d.usdc, 6)], [(token, 18)])

    cases = {
        "convert_reverts": await send(chain.take, [(sells(reverting), 0, 0, E18, 10**8)]),
        "not_a_vault": await send(chain.take, [(sells(not_a_vault), 0, 0, E18, 10**8)]),
        "mismatch": await send(chain.take, [(sells(mismatched), 0, 0, E18, 10**8)]),
    }
    healthy = await send(chain.take, [(sells(t["tAAPL"]), 0, 0, E18, 10**8)])

    async def healthy_recorded() -> bool:
        return await filled_counts(ledger) == {f"{healthy.tx_hash}:0": 1}

    await eventually(healthy_recorded, what="the healthy fill after the unreadable wrappers")
    skips = {tid.split(":")[0]: p["skip"] for tid, kind, p in await trade_events(ledger) if kind == "FillSkipped"}
    reasons = {name: skips[sent.tx_hash]["reason"] for name, sent in cases.items()}
    assert reasons == {
        "convert_reverts": "wrapper_unreadable",
        "not_a_vault": "not_a_vault",
        "mismatch": "wrapper_mismatch",
    }
    detail = skips[cases["convert_reverts"].tx_hash]["detail"]
    assert "convertToAssets" in detail
    assert f"block {cases['convert_reverts'].block_number}" in detail
    assert "no rate for you" in detail
    assert "asset() reverted" in skips[cases["not_a_vault"].tx_hash]["detail"]
    assert all(sent.tx_hash in skips[sent.tx_hash]["detail"] for sent in cases.values())
    assert not running.task.done()
    assert running.intake.sessions == 1
