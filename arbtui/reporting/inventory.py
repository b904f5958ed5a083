"""Inventory across venues: what we hold onchain (orderbook vaults) and at the broker, per symbol and
USDC; how far each is from its target split; and the transfer that would restore it.

The st0x bridge move is manual in V1: :class:`Transfer` is a *suggestion* this module prints, never
an action. Amounts are exact decimals; only the ratio (a display figure) is a rounded division.

Onchain: ``vaultBalance(owner, token, vaultId)`` of the orderbook for each configured vault, read in
one batched ``eth_call`` with each token's ``decimals()``. Ledger: the unhedged net and the token
address of each symbol (``position_view``, ``onchain_trade_view``). Broker: ``Broker.positions()`` and
``Broker.balances()`` (cash is the USD side of USDC).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from arbtui.brokers.base import Broker
from arbtui.chain.abi import keccak_text
from arbtui.chain.rpc import JsonRpcClient, RpcResponseError
from arbtui.domain.values import DIVISION, EXACT, Venue, canonical

USDC = "USDC"
VAULT_BALANCE = "0x" + keccak_text("vaultBalance(address,address,uint256)")[:8]
DECIMALS = "0x313ce567"
RATIO_PLACES = Decimal("0.0001")


def venue_label(venue: Venue) -> str:
    """How the inventory report names a venue (``onchain``, ``broker``): the words of its column headers
    and of the suggested transfer, which operators read. Not :class:`Venue`'s value (``ONCHAIN``/``OFFCHAIN``,
    as ``metrics_pnl_view`` stores it)."""
    match venue:
        case Venue.ONCHAIN:
            return "onchain"
        case Venue.OFFCHAIN:
            return "broker"
        case _:
            assert_never(venue)


@dataclass(frozen=True)
class Policy:
    """The split we aim for: ``target`` = onchain share of each asset's total; alert once the onchain
    share is ``drift_alert`` or more away from it."""

    target: Decimal = Decimal("0.5")
    drift_alert: Decimal = Decimal("0.2")

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.target <= Decimal(1):
            raise ValueError(f"inventory target {self.target} must be between 0 and 1")
        if not Decimal(0) < self.drift_alert <= Decimal(1):
            raise ValueError(f"inventory drift alert {self.drift_alert} must be above 0 and at most 1")


@dataclass(frozen=True)
class VaultRef:
    """One orderbook vault of our owner: the asset it holds (a broker ticker, or ``USDC``)."""

    asset: str
    token: str
    vault_id: int


@dataclass(frozen=True)
class Holding:
    asset: str
    onchain: Decimal
    broker: Decimal
    unhedged: Decimal | None = None
    """The ledger's exposure not yet offset at the broker (equities only; see :func:`ledger_positions`)."""


@dataclass(frozen=True)
class Transfer:
    asset: str
    amount: Decimal
    source: Venue
    destination: Venue

    def __str__(self) -> str:
        source, destination = venue_label(self.source), venue_label(self.destination)
        return f"move {canonical(self.amount)} {self.asset} {source} → {destination} (manual, st0x bridge)"


@dataclass(frozen=True)
class Line:
    """One asset's inventory, judged against the policy."""

    holding: Holding
    total: Decimal
    ratio: Decimal | None
    """Onchain share of the total (None when there is nothing to split)."""
    drift: Decimal | None
    alert: bool
    suggestion: Transfer | None

    def row(self) -> tuple[str, ...]:
        h = self.holding
        return (
            h.asset,
            canonical(h.onchain),
            canonical(h.broker),
            canonical(self.total),
            "" if h.unhedged is None else canonical(h.unhedged),
            "" if self.ratio is None else canonical(self.ratio),
            "" if self.drift is None else canonical(self.drift),
            "DRIFT" if self.alert else "ok",
            "" if self.suggestion is None else str(self.suggestion),
        )


HEADER = ("asset", "onchain", "broker", "total", "unhedged", "onchain_ratio", "drift", "alert", "suggested_transfer")


def assess(holding: Holding, policy: Policy) -> Line:
    """Totals, onchain ratio, drift from the target, the alert (at the threshold or past it) and the
    transfer that would bring the onchain share back to the target."""
    total = EXACT.add(holding.onchain, holding.broker)
    if total <= 0:
        return Line(holding, total, None, None, False, None)
    exact_drift = EXACT.subtract(DIVISION.divide(holding.onchain, total), policy.target)
    alert = abs(exact_drift) >= policy.drift_alert
    suggestion = None
    if alert:
        excess = EXACT.subtract(holding.onchain, EXACT.multiply(policy.target, total))  # onchain above target
        if excess != 0:
            source, destination = (Venue.ONCHAIN, Venue.OFFCHAIN) if excess > 0 else (Venue.OFFCHAIN, Venue.ONCHAIN)
            suggestion = Transfer(holding.asset, abs(excess), source, destination)
    ratio = DIVISION.quantize(DIVISION.divide(holding.onchain, total), RATIO_PLACES)
    return Line(holding, total, ratio, DIVISION.quantize(exact_drift, RATIO_PLACES), alert, suggestion)


def assess_all(holdings: Sequence[Holding], policy: Policy) -> list[Line]:
    return [assess(h, policy) for h in holdings]


# --- reading the venues -----------------------------------------------------------------------


async def vault_balances(
    client: JsonRpcClient, orderbook: str, owner: str, vaults: Sequence[VaultRef]
) -> dict[str, Decimal]:
    """Each vault's balance in whole tokens (one batched request: balance and decimals per vault);
    vaults of the same asset add up."""
    calls: list[tuple[str, list[object]]] = []
    for vault in vaults:
        data = VAULT_BALANCE + abi_encode(["address", "address", "uint256"], [owner, vault.token, vault.vault_id]).hex()
        calls.append(("eth_call", [{"to": orderbook, "data": data}, "latest"]))
        calls.append(("eth_call", [{"to": vault.token, "data": DECIMALS}, "latest"]))
    answers = await client.batch(calls)
    found: dict[str, Decimal] = {}
    for index, vault in enumerate(vaults):
        raw_balance = _hex(answers[2 * index], vault, "vaultBalance")
        raw_decimals = _hex(answers[2 * index + 1], vault, "decimals")
        (balance,) = abi_decode(["uint256"], raw_balance)
        (decimals,) = abi_decode(["uint8"], raw_decimals)
        amount = EXACT.scaleb(Decimal(balance), -int(decimals))
        found[vault.asset] = EXACT.add(found.get(vault.asset, Decimal(0)), amount)
    return found


def _hex(answer: object, vault: VaultRef, what: str) -> bytes:
    if isinstance(answer, RpcResponseError) or not isinstance(answer, str) or not answer.startswith("0x"):
        raise InventoryError(f"{vault.asset} vault {vault.vault_id}: {what} failed: {answer}")
    try:
        return bytes.fromhex(answer[2:])
    except ValueError:
        raise InventoryError(f"{vault.asset} vault {vault.vault_id}: {what} answer is not hex") from None


class InventoryError(Exception):
    """Inventory could not be read (one line for the operator)."""


def ledger_positions(conn: sqlite3.Connection) -> dict[str, Decimal]:
    """Per symbol, the onchain exposure no broker fill has offset yet — the carry plus the hedge in
    flight (``net_position + reserved`` of ``position_view``), exact."""
    return {
        str(symbol): EXACT.add(Decimal(str(net)), Decimal(str(reserved)))
        for symbol, net, reserved in conn.execute(
            "SELECT symbol, json_extract(payload, '$.net_position'), json_extract(payload, '$.reserved')"
            " FROM position_view"
        )
    }


def ledger_tokens(conn: sqlite3.Connection) -> dict[str, str]:
    """The token address each symbol traded as onchain (the latest one seen)."""
    return {
        str(symbol): str(token)
        for symbol, token, _ in conn.execute(  # SQLite: the bare column comes from the max() row
            "SELECT symbol, json_extract(payload, '$.token_address'), max(block_number) FROM onchain_trade_view"
            " GROUP BY symbol"
        )
    }


async def read_inventory(
    *,
    client: JsonRpcClient,
    orderbook: str,
    owner: str,
    vaults: Sequence[VaultRef],
    broker: Broker,
    unhedged: Mapping[str, Decimal] | None = None,
) -> list[Holding]:
    """Holdings per asset: every asset with a vault, a broker position or a ledger position; USDC last."""
    onchain = await vault_balances(client, orderbook, owner, vaults)
    positions = {str(p.symbol): p.quantity.value for p in await broker.positions()}
    cash = (await broker.balances()).cash.value
    ledger = dict(unhedged or {})
    assets = sorted((set(onchain) | set(positions) | set(ledger)) - {USDC})
    holdings = [
        Holding(a, onchain.get(a, Decimal(0)), positions.get(a, Decimal(0)), ledger.get(a, Decimal(0))) for a in assets
    ]
    holdings.append(Holding(USDC, onchain.get(USDC, Decimal(0)), cash))
    return holdings
