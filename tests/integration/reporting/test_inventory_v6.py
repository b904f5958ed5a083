"""Inventory on today's books, against anvil: a V5/V6-style book answers ``vaultBalance2`` with a rain
Float (the bytes made by Rain's own ``@rainlanguage/float``), the V4 stand-in ``vaultBalance``; vaultless
IOs (vault id 0 on a V5/V6 book) are the owner's wallet. The book's generation is asked of the book."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.chain.rpc import JsonRpcClient
from arbtui.cli import main
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import TX_GAS, ChainDriver, deployer
from arbtui.reporting.inventory import (
    USDC,
    BookGeneration,
    InventoryError,
    VaultRef,
    book_generation,
    read_inventory,
    vault_balances,
)
from arbtui.store.ledger import Ledger
from tests.chain_support.rain_float import rain_parse
from tests.integration.reporting.test_inventory import VAULT, Vaults

E18 = 10**18
V6_VAULT = 0x1234ABCD  # bytes32 vault ids: any 32-byte value


class V6Book:
    """The V5/V6 inventory stand-in: the test stores Float balances as Rain's library encodes them."""

    def __init__(self, chain: ChainDriver, address: str, artifacts: dict[str, Artifact]) -> None:
        self.chain = chain
        self.address = address
        self.contract = chain.w3.eth.contract(address=address, abi=artifacts["VaultBalanceV6StandIn"].abi)  # type: ignore[call-overload]

    def set(self, token: str, vault_id: int, amount: str) -> None:
        (word,) = rain_parse([amount])
        call = self.contract.functions.setVaultBalance2(self.chain.sender, token, vault_id.to_bytes(32, "big"), word)
        tx = call.transact({"from": self.chain.sender, "gas": TX_GAS})
        assert self.chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def _mint(chain: ChainDriver, artifacts: dict[str, Artifact], token: str, amount: int) -> None:
    erc20 = chain.w3.eth.contract(address=token, abi=artifacts["TestToken"].abi)  # type: ignore[call-overload]
    tx = erc20.functions.mint(chain.sender, amount).transact({"from": chain.sender, "gas": TX_GAS})
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


async def test_v6_float_vaults_v4_vaults_and_vaultless_wallets(
    anvil: AnvilNode, chain: ChainDriver, artifacts: dict[str, Artifact]
) -> None:
    d = chain.deployment
    taapl, nvda, usdc = d.tokens["tAAPL"], d.tokens["NVDAs1"], d.usdc
    v6 = V6Book(chain, deployer(anvil.http_url, artifacts)("VaultBalanceV6StandIn"), artifacts)
    send = asyncio.to_thread
    # V6: Floats in whole tokens, non-canonical and finer than a cent — decoded exactly, no decimals()
    await send(v6.set, taapl, V6_VAULT, "12.500000000000000001")
    await send(v6.set, usdc, V6_VAULT, "1234.567891")
    # vaultless (vault id 0 on a V6 book): the owner's wallet — 3.25 NVDAs1 (9 decimals)
    await send(_mint, chain, artifacts, nvda, 3_250_000_000)
    # V4: the orderbook stand-in's vault, real transfers
    await send(Vaults(chain, artifacts).deposit, taapl, 2 * E18)
    client = JsonRpcClient(anvil.http_url)
    try:
        assert await book_generation(client, v6.address, chain.sender) is BookGeneration.FLOAT
        assert await book_generation(client, d.orderbook, chain.sender) is BookGeneration.V4
        refs = [
            VaultRef("AAPL", taapl, V6_VAULT, orderbook=v6.address),
            VaultRef(USDC, usdc, V6_VAULT, orderbook=v6.address),
            VaultRef("NVDA", nvda, 0, orderbook=v6.address),
            VaultRef("AAPL", taapl, VAULT),  # the V4 book given as the default below
        ]
        balances = await vault_balances(client, d.orderbook, chain.sender, refs)
        assert balances == {
            "AAPL": Decimal("14.500000000000000001"),
            USDC: Decimal("1234.567891"),
            "NVDA": Decimal("3.25"),
        }
        holdings = await read_inventory(
            client=client, orderbook=v6.address, owner=chain.sender, vaults=refs[:3], broker=DryRunBroker()
        )
        assert {h.asset: h.onchain for h in holdings} == {
            "AAPL": Decimal("12.500000000000000001"),
            "NVDA": Decimal("3.25"),
            USDC: Decimal("1234.567891"),
        }
        # on a V4 book vault 0 is an ordinary vault, not the wallet
        assert await vault_balances(client, d.orderbook, chain.sender, [VaultRef("NVDA", nvda, 0)]) == {
            "NVDA": Decimal(0)
        }
        # an address that is no book (no code: both reads answer nothing) is an error, never a zero
        with pytest.raises(InventoryError, match="answers neither vaultBalance2 nor vaultBalance"):
            await vault_balances(client, "0x" + "de" * 20, chain.sender, [VaultRef("AAPL", taapl, VAULT)])
    finally:
        await client.close()


async def test_report_inventory_reads_a_v6_book(
    anvil: AnvilNode, chain: ChainDriver, artifacts: dict[str, Artifact], ledger: Ledger, db_path: Any, tmp_path: Path
) -> None:
    """`arbtui report inventory` with `chain.orderbook` a V6-style book: Float vaults, and a vaultless USDC IO."""
    d = chain.deployment
    v6 = V6Book(chain, deployer(anvil.http_url, artifacts)("VaultBalanceV6StandIn"), artifacts)
    await asyncio.to_thread(v6.set, d.tokens["tAAPL"], 7, "4")
    await asyncio.to_thread(_mint, chain, artifacts, d.usdc, 250_500_000)
    config = tmp_path / "arbtui.toml"
    config.write_text(
        "[chain]\n"
        f'http_url = "{anvil.http_url}"\n'
        f'orderbook = "{v6.address}"\n'
        f'owner = "{chain.sender}"\n'
        f'usdc = "{d.usdc}"\n'
        f'[inventory.vaults]\nAAPL = "7@{d.tokens["tAAPL"]}"\nUSDC = "0"\n'
    )
    args = ["--db", str(db_path), "--config", str(config), "report", "inventory", "--format", "json"]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code in (0, 3), result.output
    rows = {row["asset"]: row for row in json.loads(result.output)}  # JSON: the exact balances
    assert rows["AAPL"]["onchain"] == "4"
    assert rows["USDC"]["onchain"] == "250.5"
