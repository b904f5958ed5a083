"""The demo's opening inventory, read as the console's pane reads it: the demo deposits into the vaults its
config lists (on the V4 book a real deposit: the tokens leave the owner's wallet for the book) and opens
broker positions, so the inventory has real numbers on both venues and, from the first read, a drift."""

from __future__ import annotations

from decimal import Decimal

import pytest
from web3 import Web3

from arbtui.demo.deploy import OUR_OWNER
from arbtui.demo.market import BOOK_CHOICES, LISTINGS, OPENING, OPENING_USDC, Book
from arbtui.demo.scenario import demo_world
from arbtui.reporting.inventory import USDC
from arbtui.reporting.inventory_command import inventory_source

BALANCE_OF = [
    {
        "name": "balanceOf",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


@pytest.mark.parametrize("choice", ["both", "v6"])
async def test_the_demo_deposits_into_its_vaults_and_the_inventory_drifts(choice: str) -> None:
    async with demo_world(keep_db=None, progress=lambda _: None, books=BOOK_CHOICES[choice]) as world:
        reader = inventory_source(world.settings, world.engine.broker, world.db_path)
        assert reader is not None, "the demo's config lists [inventory.vaults]"
        lines = {line.holding.asset: line for line in await reader()}

        assert set(lines) == {*OPENING, USDC}
        for ticker, opening in OPENING.items():
            held = lines[ticker].holding
            assert (held.onchain, held.broker) == (Decimal(opening.onchain), Decimal(opening.broker))
        assert lines[USDC].holding.onchain == Decimal(OPENING_USDC)
        assert lines[USDC].holding.broker == world.broker.cash
        assert {asset for asset, line in lines.items() if line.alert} == {"MSFT", "NVDA"}
        assert not lines["USDC"].alert

        if world.books[0] is Book.V4:  # real transfers: the book holds the tokens, the owner's wallet none
            w3 = world.driver.w3
            tsla = next(li for li in LISTINGS if li.ticker == "TSLA")
            token = w3.eth.contract(address=world.deployment.tokens[tsla.token], abi=BALANCE_OF)
            assert token.functions.balanceOf(world.deployment.orderbook).call() == 25 * 10**tsla.decimals
            assert token.functions.balanceOf(Web3.to_checksum_address(OUR_OWNER)).call() == 0
        await world.engine.ledger.close()
        world.ledger_closed = True
