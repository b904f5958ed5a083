"""Wiring for ``arbtui report inventory``: settings → chain client and broker → inventory lines."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from arbtui.brokers.base import Broker, BrokerError
from arbtui.chain.rpc import ChainRpcError, JsonRpcClient
from arbtui.config import ChainSettings, ConfigError, Settings, format_problems, load_settings
from arbtui.domain.sessions import NEW_YORK, TradingCalendar
from arbtui.domain.values import BrokerKind
from arbtui.reporting.database import ReportError, open_readonly
from arbtui.reporting.inventory import (
    USDC,
    InventoryError,
    InventoryReader,
    InventoryUnreadable,
    Line,
    Policy,
    VaultRef,
    assess_all,
    ledger_positions,
    ledger_tokens,
    read_inventory,
)

ADDRESS = re.compile(r"0x[0-9a-f]{40}")


def parse_vaults(specs: tuple[str, ...], tokens: dict[str, str], usdc: str) -> list[VaultRef]:
    """``ASSET=ID[@TOKEN[@BOOK]]`` (ID decimal or 0x-hex); the token defaults to the ledger's token address
    of that symbol (``USDC``: the configured USDC), the book to the first configured orderbook (give it
    when the vault is on another: ``AAPL=0x07@@0xBOOK`` keeps the default token)."""
    vaults = []
    for spec in specs:
        asset, _, rest = spec.partition("=")
        vault_id, _, where = rest.partition("@")
        token, _, book = where.partition("@")
        asset = asset.strip().upper()
        try:
            number = int(vault_id, 0)
        except ValueError:
            raise click.UsageError(
                f"--vault {spec!r}: expected ASSET=ID[@TOKEN] (or ASSET=ID[@TOKEN]@BOOK for a vault on another"
                " book), ID a number or 0x-hex"
            ) from None
        address = token or (usdc if asset == USDC else tokens.get(asset, ""))
        if not address:
            raise click.UsageError(
                f"--vault {spec!r}: no token address known for {asset}; give it as {asset}={vault_id}@0x…"
            )
        if book and not ADDRESS.fullmatch(book.strip().lower()):
            raise click.UsageError(f"--vault {spec!r}: the book after the second @ is not an address: {book!r}")
        vaults.append(VaultRef(asset, address, number, orderbook=book.strip().lower() or None))
    return vaults


def _settings(obj: Any) -> Settings:
    config: Path | None = getattr(obj, "config", None)
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(format_problems(exc).replace("\n", "; ")) from exc


def _broker(settings: Settings, purpose: str = "inventory") -> Broker:
    kind = settings.broker.kind
    if kind is BrokerKind.ALPACA:
        from arbtui.brokers.alpaca.client import AlpacaBroker

        return AlpacaBroker(settings.alpaca_config())
    if kind is BrokerKind.SCHWAB:
        raise click.ClickException(
            f"{purpose} from Schwab needs the bot's stored login: use the console's inventory pane"
            if purpose == "inventory"
            else f"{purpose} from Schwab needs the bot's stored login: run it with a dry-run or Alpaca config"
        )
    return _dry_run()


def _dry_run() -> Broker:
    from arbtui.brokers.dry_run import DryRunBroker

    return DryRunBroker()


def broker_calendar(obj: Any, start: datetime, end: datetime) -> TradingCalendar:
    """The configured broker's trading calendar from ``start``'s to ``end``'s New York date (dry-run's
    without ``--config``); a broker that cannot answer is one line."""
    settings = None if getattr(obj, "config", None) is None else _settings(obj)

    async def read() -> TradingCalendar:
        broker = _dry_run() if settings is None else _broker(settings, "the trading calendar")
        try:
            return await broker.calendar(start.astimezone(NEW_YORK).date(), end.astimezone(NEW_YORK).date())
        finally:
            await broker.aclose()

    try:
        return asyncio.run(read())
    except BrokerError as exc:
        raise click.ClickException(f"the broker's calendar: {exc}") from exc


def configured_vaults(settings: Settings) -> tuple[str, ...]:
    """``[inventory.vaults]`` as ``ASSET=ID[@TOKEN]`` specs."""
    return tuple(f"{asset}={vault}" for asset, vault in settings.inventory.vaults.items())


def inventory_lines(
    obj: Any, conn: sqlite3.Connection, specs: tuple[str, ...], policy_of: Callable[[Settings], Policy]
) -> list[Line]:
    settings = _settings(obj)
    policy = policy_of(settings)
    chain = settings.chain
    if chain.http_url is None:
        raise click.ClickException("[chain] http_url is required to read the orderbook's vaults")
    vaults = parse_vaults(specs or configured_vaults(settings), ledger_tokens(conn), chain.usdc)
    unhedged = ledger_positions(conn)

    async def gather() -> list[Line]:
        broker = _broker(settings)
        try:
            return await _assessed(chain, vaults, broker, unhedged, policy)
        finally:
            await broker.aclose()

    try:
        return asyncio.run(gather())
    except (InventoryError, ChainRpcError, BrokerError) as exc:
        raise click.ClickException(f"inventory: {exc}") from exc


def inventory_source(settings: Settings, broker: Broker, ledger: Path) -> InventoryReader | None:
    """The console's inventory reader: the configured vaults on chain, the running bot's broker, the
    ledger read-only. None when ``[inventory.vaults]`` is empty. Whatever source fails, the reader raises
    :class:`InventoryUnreadable` naming it (``onchain``, ``broker``, ``ledger``, ``config``)."""
    chain = settings.chain
    if not settings.inventory.vaults or chain.http_url is None:
        return None
    policy = Policy(target=settings.inventory.target_onchain_ratio, drift_alert=settings.inventory.drift_alert)

    def from_ledger() -> tuple[list[VaultRef], dict[str, Decimal]]:
        try:
            with closing(open_readonly(ledger)) as conn:
                tokens, unhedged = ledger_tokens(conn), ledger_positions(conn)
        except (ReportError, sqlite3.Error) as exc:
            raise InventoryUnreadable("ledger", exc) from exc
        try:
            return parse_vaults(configured_vaults(settings), tokens, chain.usdc), unhedged
        except click.UsageError as exc:  # a vault spec naming no token the ledger knows yet, or malformed
            raise InventoryUnreadable("config", f"[inventory.vaults] {exc.message}") from exc

    async def read() -> list[Line]:
        vaults, unhedged = await asyncio.to_thread(from_ledger)
        return await _assessed(chain, vaults, broker, unhedged, policy)

    return read


async def _assessed(
    chain: ChainSettings, vaults: list[VaultRef], broker: Broker, unhedged: dict[str, Decimal], policy: Policy
) -> list[Line]:
    """Our vaults on chain and the broker's side read now, each asset judged against ``policy``."""
    client = JsonRpcClient(str(chain.http_url))
    try:
        holdings = await read_inventory(
            # the first configured book (vaults of several books, and V6's vaultBalance2: issue 13 item 5)
            client=client, orderbook=chain.books[0].address, owner=chain.owner, vaults=vaults, broker=broker,
            unhedged=unhedged,
        )  # fmt: skip
    finally:
        await client.close()
    return assess_all(holdings, policy)
