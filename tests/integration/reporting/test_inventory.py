"""Inventory against real venues: orderbook vaults on anvil (the stand-in's deposit/withdraw with real
token transfers), broker positions and cash from the local Alpaca server, the unhedged net from the
ledger; the drift alert fires exactly at its threshold."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from arbtui.brokers.alpaca.client import AlpacaBroker
from arbtui.chain.rpc import JsonRpcClient
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.demo.anvil import AnvilNode, free_port
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import ChainDriver, Deployment
from arbtui.domain.values import Direction, Symbol, Venue
from arbtui.reporting.inventory import (
    HEADER,
    USDC,
    InventoryUnreadable,
    Policy,
    VaultRef,
    assess,
    ledger_positions,
    read_inventory,
)
from arbtui.store.ledger import Ledger
from arbtui.store.migrate import connect_sync
from tests.builders import block, make_fill
from tests.integration.brokers.conftest import market_order, wait_terminal

VAULT = 7
E18 = 10**18
E6 = 10**6


class Vaults:
    """Our owner's side of the orderbook stand-in: mint, approve, deposit, withdraw — real transfers."""

    def __init__(self, chain: ChainDriver, artifacts: dict[str, Artifact]) -> None:
        self.chain, self.abi = chain, artifacts["TestToken"].abi

    def _send(self, call: Any) -> None:
        tx = call.transact({"from": self.chain.sender, "gas": 1_000_000})
        assert self.chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    def deposit(self, token: str, amount: int) -> None:
        erc20 = self.chain.w3.eth.contract(address=token, abi=self.abi)  # type: ignore[call-overload]
        self._send(erc20.functions.mint(self.chain.sender, amount))
        self._send(erc20.functions.approve(self.chain.orderbook.address, amount))
        self._send(self.chain.orderbook.functions.deposit(token, VAULT, amount))

    def withdraw(self, token: str, amount: int) -> None:
        self._send(self.chain.orderbook.functions.withdraw(token, VAULT, amount))


async def test_vaults_broker_and_ledger_make_the_inventory(
    anvil: AnvilNode,
    chain: ChainDriver,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    alpaca_factory: Callable[..., AlpacaBroker],
    ledger: Ledger,
    db_path: Any,
) -> None:
    taapl, usdc = deployment.tokens["tAAPL"], deployment.usdc
    vaults = Vaults(chain, artifacts)
    refs = [VaultRef("AAPL", taapl, VAULT), VaultRef(USDC, usdc, VAULT)]
    broker = alpaca_factory()
    client = JsonRpcClient(anvil.http_url)
    policy = Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2"))

    async def inventory() -> dict[str, Any]:
        conn = connect_sync(db_path, readonly=True)
        try:
            unhedged = ledger_positions(conn)
        finally:
            conn.close()
        holdings = await read_inventory(
            client=client,
            orderbook=deployment.orderbook,
            owner=chain.sender,
            vaults=refs,
            broker=broker,
            unhedged=unhedged,
        )
        return {h.asset: assess(h, policy) for h in holdings}

    try:
        await asyncio.to_thread(vaults.deposit, taapl, 10 * E18)
        await asyncio.to_thread(vaults.deposit, usdc, 5000 * E6)
        bought = await broker.submit(market_order("2", symbol=Symbol("AAPL")))
        await wait_terminal(broker, bought)

        lines = await inventory()
        aapl = lines["AAPL"]
        assert (aapl.holding.onchain, aapl.holding.broker, aapl.total) == (Decimal(10), Decimal(2), Decimal(12))
        assert (aapl.ratio, aapl.drift, aapl.alert) == (Decimal("0.8333"), Decimal("0.3333"), True)
        assert aapl.suggestion is not None
        assert (aapl.suggestion.amount, aapl.suggestion.source, aapl.suggestion.destination) == (
            Decimal(4),
            Venue.ONCHAIN,
            Venue.OFFCHAIN,
        )
        assert lines[USDC].holding.onchain == Decimal(5000)
        assert lines[USDC].holding.broker == (await broker.balances()).cash.value

        # our order sells 3 tAAPL onchain for 450 USDC: the vaults move (the stand-in settles nothing
        # itself, so the test moves them as the orderbook would) and the ledger records the fill
        await asyncio.to_thread(vaults.withdraw, taapl, 3 * E18)
        await asyncio.to_thread(vaults.deposit, usdc, 450 * E6)
        await ledger.record_range([make_fill(1, "3", Direction.SELL, price="150")], [], block(1))
        lines = await inventory()
        assert (lines["AAPL"].holding.onchain, lines["AAPL"].holding.unhedged) == (Decimal(7), Decimal(-3))
        assert lines[USDC].holding.onchain == Decimal(5450)
        assert lines["AAPL"].alert  # 7 of 9 onchain: 0.7778

        # one more share at the broker: 7 of 10 onchain is a drift of exactly 0.2 — the alert fires
        await wait_terminal(broker, await broker.submit(market_order("1", symbol=Symbol("AAPL"))))
        lines = await inventory()
        aapl = lines["AAPL"]
        assert (aapl.total, aapl.drift, aapl.alert) == (Decimal(10), Decimal("0.2"), True)
        assert aapl.suggestion is not None
        assert aapl.suggestion.amount == Decimal(2)
        calmer = assess(aapl.holding, Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2000001")))
        assert (calmer.alert, calmer.suggestion) == (False, None)
    finally:
        await client.close()
        await broker.aclose()


async def test_report_inventory_command_reads_chain_and_broker(
    anvil: AnvilNode,
    chain: ChainDriver,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    ledger: Ledger,
    db_path: Any,
    tmp_path: Any,
) -> None:
    """`arbtui report inventory` from a config file (dry-run broker): vaults read from anvil, exit 3
    when an asset drifts, CSV with the suggested transfer."""
    taapl = deployment.tokens["tAAPL"]
    await asyncio.to_thread(Vaults(chain, artifacts).deposit, taapl, 4 * E18)
    config = tmp_path / "arbtui.toml"
    config.write_text(
        "[chain]\n"
        f'http_url = "{anvil.http_url}"\n'
        f'orderbook = "{deployment.orderbook}"\n'
        f'owner = "{chain.sender}"\n'
        f'usdc = "{deployment.usdc}"\n'
    )
    from click.testing import CliRunner

    from arbtui.cli import main

    args = ["--db", str(db_path), "--config", str(config), "report", "inventory", "--format", "csv"]
    result = await asyncio.to_thread(
        CliRunner().invoke, main, [*args, "--vault", f"AAPL={VAULT}@{taapl}", "--vault", f"USDC={VAULT}"]
    )
    assert result.exit_code == 3, result.output
    table = list(csv.reader(io.StringIO(result.output)))
    assert table[0] == list(HEADER)
    assert table[1] == [
        "AAPL",
        "4",
        "0",
        "4",
        "0",
        "1",
        "0.5",
        "DRIFT",
        "move 2 AAPL onchain → broker (manual, st0x bridge)",
    ]
    assert table[2][:4] == ["USDC", "0.00", table[2][2], table[2][2]]  # the dry-run broker's cash, in cents
    assert table[2][2] == "100000.00"  # CSV: no thousands separators
    bad = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--vault", "AAPL=seven"])
    assert bad.exit_code == 2
    assert "expected ASSET=ID[@TOKEN]" in bad.output


async def test_inventory_vaults_and_target_come_from_the_config_for_the_report_and_the_console(
    anvil: AnvilNode,
    chain: ChainDriver,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    ledger: Ledger,
    db_path: Any,
    tmp_path: Any,
) -> None:
    """``[inventory]`` in the config: `arbtui report inventory` needs no --vault, the target and drift come
    from the file, and the console's reader (same settings, the bot's broker) sees the same vault."""
    from click.testing import CliRunner

    from arbtui.brokers.dry_run import DryRunBroker
    from arbtui.cli import main
    from arbtui.config import load_settings
    from arbtui.reporting.inventory_command import inventory_source

    taapl = deployment.tokens["tAAPL"]
    await asyncio.to_thread(Vaults(chain, artifacts).deposit, taapl, 4 * E18)
    chain_table = (
        "[chain]\n"
        f'http_url = "{anvil.http_url}"\n'
        f'orderbook = "{deployment.orderbook}"\n'
        f'owner = "{chain.sender}"\n'
        f'usdc = "{deployment.usdc}"\n'
    )
    config = tmp_path / "arbtui.toml"
    config.write_text(
        chain_table + '[inventory]\ntarget_onchain_ratio = "1"\ndrift_alert = "0.25"\n'
        f'[inventory.vaults]\nAAPL = "{VAULT}@{taapl}"\n'
    )
    args = ["--db", str(db_path), "--config", str(config), "report", "inventory", "--format", "csv"]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 3, result.output  # the broker's cash drifts from a target of all-onchain
    rows = {row[0]: row for row in csv.reader(io.StringIO(result.output))}
    assert rows["USDC"][7] == "DRIFT"
    assert rows["AAPL"][1] == "4"
    assert (rows["AAPL"][5], rows["AAPL"][6]) == ("1", "0")  # drift from the file's target, not 0.5
    assert rows["AAPL"][7] != "DRIFT"  # all AAPL onchain, as the file's target of 1 wants

    broker = DryRunBroker()
    reader = inventory_source(load_settings(config, environ={}), broker, db_path)
    assert reader is not None
    lines = {line.holding.asset: line for line in await reader()}
    assert lines["AAPL"].holding.onchain == 4
    assert lines["AAPL"].alert is False

    config.write_text(chain_table)
    assert inventory_source(load_settings(config, environ={}), broker, db_path) is None


async def test_the_consoles_reader_names_the_source_it_could_not_read(
    anvil: AnvilNode,
    chain: ChainDriver,
    deployment: Deployment,
    artifacts: dict[str, Artifact],
    alpaca_server: AlpacaServer,
    alpaca_factory: Callable[..., AlpacaBroker],
    ledger: Ledger,
    db_path: Any,
    tmp_path: Any,
) -> None:
    """The console's pane shows which source failed: the broker (refusing our keys), the node (nothing
    listening), the config (a vault whose token the ledger does not know yet) — each an
    :class:`InventoryUnreadable` naming it; with all of them answering, the same reader reads."""
    from arbtui.config import load_settings
    from arbtui.reporting.inventory_command import inventory_source

    taapl = deployment.tokens["tAAPL"]
    await asyncio.to_thread(Vaults(chain, artifacts).deposit, taapl, 4 * E18)

    def settings(http_url: str, vault: str) -> Any:
        config = tmp_path / "arbtui.toml"
        config.write_text(
            f'[chain]\nhttp_url = "{http_url}"\norderbook = "{deployment.orderbook}"\nowner = "{chain.sender}"\n'
            f'usdc = "{deployment.usdc}"\n[inventory.vaults]\nAAPL = "{vault}"\n'
        )
        return load_settings(config, environ={})

    broker = alpaca_factory()
    try:
        reader = inventory_source(settings(anvil.http_url, f"{VAULT}@{taapl}"), broker, db_path)
        assert reader is not None
        (aapl, _) = await reader()
        assert (aapl.holding.asset, aapl.holding.onchain) == ("AAPL", Decimal(4))

        alpaca_server.api_secret = "rotated"  # our keys are refused from now on
        with pytest.raises(InventoryUnreadable, match=r"^broker: ") as refused:
            await reader()
        assert refused.value.source == "broker"
        alpaca_server.api_secret = "test-secret"

        dead = inventory_source(settings(f"http://127.0.0.1:{free_port()}", f"{VAULT}@{taapl}"), broker, db_path)
        assert dead is not None
        with pytest.raises(InventoryUnreadable, match=r"^onchain: ") as unreachable:
            await dead()
        assert unreachable.value.source == "onchain"

        tokenless = inventory_source(settings(anvil.http_url, str(VAULT)), broker, db_path)
        assert tokenless is not None
        with pytest.raises(
            InventoryUnreadable, match=r"^config: \[inventory.vaults\] .*no token address known for AAPL"
        ):
            await tokenless()
    finally:
        await broker.aclose()
