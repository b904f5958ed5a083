"""Inventory across venues: what we hold onchain (orderbook vaults) and at the broker, per symbol and
USDC; how far each is from its target split; and the transfer that would restore it.

The st0x bridge move is manual in V1: :class:`Transfer` is a *suggestion* this module prints, never
an action. Amounts are exact decimals; only the ratio (a display figure) is a rounded division.

Onchain, per configured vault, in one batched request (:func:`vault_balances`):

* a V4 book: ``vaultBalance(owner, token, vaultId)`` (uint256 base units) with the token's ``decimals()``;
* a V5/V6 book: ``vaultBalance2(owner, token, vaultId)``, a rain Float of whole tokens, decoded exactly
  (:class:`~arbtui.domain.rain_float.RainFloat`), no decimals needed;
* a vaultless IO (vault id 0 on a V5/V6 book: the order pays from and to the owner's wallet): the
  owner's ``balanceOf`` with ``decimals()``. (On a V4 book vault 0 is an ordinary vault.)

Which generation a book is, is asked of the book itself (:func:`book_generation`), not configured: both
reads are tried once per book and exactly one must answer — V4 books have no ``vaultBalance2``, V5/V6
books no ``vaultBalance`` — so a book upgraded in the config can never be read with the other layout,
and a wrong address (no code, or a contract answering both) is an error, never a zero.

Ledger: the unhedged net and the token address of each symbol (``position_view``,
``onchain_trade_view``). Broker: ``Broker.positions()`` and ``Broker.balances()`` (cash is the USD side
of USDC).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import assert_never

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from arbtui import display
from arbtui.brokers.base import Broker, BrokerError
from arbtui.chain.abi import keccak_text, word
from arbtui.chain.rpc import ChainRpcError, JsonRpcClient, RpcResponseError
from arbtui.domain.rain_float import RainFloat
from arbtui.domain.values import DIVISION, EXACT, Venue, canonical

USDC = "USDC"
VAULT_BALANCE = "0x" + keccak_text("vaultBalance(address,address,uint256)")[:8]
VAULT_BALANCE2 = "0x" + keccak_text("vaultBalance2(address,address,bytes32)")[:8]
BALANCE_OF = "0x" + keccak_text("balanceOf(address)")[:8]
DECIMALS = "0x313ce567"
PROBE_TOKEN = "0x" + "00" * 20
PROBE_VAULT = 1


class BookGeneration(StrEnum):
    """How a Raindex book reports a vault's balance."""

    V4 = "v4"
    """``vaultBalance(owner, token, uint256 vaultId) → uint256`` base units."""
    FLOAT = "v5/v6"
    """``vaultBalance2(owner, token, bytes32 vaultId) → Float`` whole tokens; vault id 0 = vaultless."""


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
    """One orderbook vault of our owner: the asset it holds (a broker ticker, or ``USDC``). Vault id 0 on a
    V5/V6 book is vaultless: the owner's wallet balance of the token."""

    asset: str
    token: str
    vault_id: int
    orderbook: str | None = None
    """The book holding the vault (``None``: the orderbook :func:`vault_balances` is given)."""


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
        return self.text(canonical(self.amount))

    def shown(self, *, grouping: bool = True) -> str:
        """As :meth:`__str__`, the amount rounded for people (:func:`amount_text`); ``str()`` is exact."""
        return self.text(amount_text(self.asset, self.amount, grouping=grouping))

    def text(self, amount: str) -> str:
        source, destination = venue_label(self.source), venue_label(self.destination)
        return f"move {amount} {self.asset} {source} → {destination} (manual, st0x bridge)"


def amount_text(asset: str, amount: Decimal, *, grouping: bool = True) -> str:
    """An asset's amount as people read it: USDC in cents (thousands separators unless ``grouping`` is
    off, for CSV), an equity in shares (:mod:`arbtui.display`)."""
    return display.usd(amount, grouping=grouping) if asset == USDC else display.shares(amount)


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

    def row(self, *, shown: bool = False, grouping: bool = True) -> tuple[str, ...]:
        """The row under :data:`HEADER`: exact decimal strings (JSON), or ``shown`` as people read them —
        USDC in cents, shares to 6 decimals (:func:`amount_text`): the table, the CSV (``grouping`` off)
        and the console."""
        h = self.holding

        def amount(value: Decimal) -> str:
            return amount_text(h.asset, value, grouping=grouping) if shown else canonical(value)

        suggestion = ""
        if self.suggestion is not None:
            suggestion = self.suggestion.shown(grouping=grouping) if shown else str(self.suggestion)
        return (
            h.asset,
            amount(h.onchain),
            amount(h.broker),
            amount(self.total),
            "" if h.unhedged is None else amount(h.unhedged),
            "" if self.ratio is None else canonical(self.ratio),
            "" if self.drift is None else canonical(self.drift),
            "DRIFT" if self.alert else "ok",
            suggestion,
        )


HEADER = ("asset", "onchain", "broker", "total", "unhedged", "onchain_ratio", "drift", "alert", "suggested_transfer")

InventoryReader = Callable[[], Awaitable[Sequence[Line]]]
"""Reads every venue now and judges each asset (the console's, from
:func:`arbtui.reporting.inventory_command.inventory_source`). Raises :class:`InventoryUnreadable` naming the
source that failed."""


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


async def book_generation(client: JsonRpcClient, orderbook: str, owner: str) -> BookGeneration:
    """Ask the book: ``vaultBalance2`` and ``vaultBalance`` are both tried (one batch); exactly one may
    answer a 32-byte word. Raises :class:`InventoryError` otherwise (the address is no Raindex book)."""
    args = abi_encode(["address", "address", "uint256"], [owner, PROBE_TOKEN, PROBE_VAULT]).hex()
    float_answer, v4_answer = await client.batch(
        [
            ("eth_call", [{"to": orderbook, "data": VAULT_BALANCE2 + args}, "latest"]),
            ("eth_call", [{"to": orderbook, "data": VAULT_BALANCE + args}, "latest"]),
        ]
    )
    for answer in (float_answer, v4_answer):
        if isinstance(answer, RpcResponseError) and not answer.is_revert:
            raise answer  # the node's trouble, not an answer about the book
    answers_float, answers_v4 = word(float_answer) is not None, word(v4_answer) is not None
    if answers_float and not answers_v4:
        return BookGeneration.FLOAT
    if answers_v4 and not answers_float:
        return BookGeneration.V4
    which = "both vaultBalance2 and vaultBalance" if answers_float else "neither vaultBalance2 nor vaultBalance"
    raise InventoryError(f"orderbook {orderbook} answers {which}: cannot tell a V4 from a V5/V6 book")


async def vault_balances(
    client: JsonRpcClient, orderbook: str, owner: str, vaults: Sequence[VaultRef]
) -> dict[str, Decimal]:
    """Each vault's balance in whole tokens, exact (one batch per book for its generation, then one for
    every balance and decimals); vaults of the same asset add up."""
    books = sorted({(vault.orderbook or orderbook).lower() for vault in vaults})
    generations = {book: await book_generation(client, book, owner) for book in books}
    calls: list[tuple[str, list[object]]] = []
    reads: list[tuple[VaultRef, str, int]] = []
    for vault in vaults:
        generation = generations[(vault.orderbook or orderbook).lower()]
        what, call = _balance_call(generation, orderbook if vault.orderbook is None else vault.orderbook, owner, vault)
        reads.append((vault, what, len(calls)))
        calls.append(call)
        if what != "vaultBalance2":
            calls.append(("eth_call", [{"to": vault.token, "data": DECIMALS}, "latest"]))
    answers = await client.batch(calls)
    found: dict[str, Decimal] = {}
    for vault, what, index in reads:
        raw = _hex(answers[index], vault, what)
        if what == "vaultBalance2":
            amount = _float_amount(raw, vault)
        else:
            (balance,) = abi_decode(["uint256"], raw)
            (decimals,) = abi_decode(["uint8"], _hex(answers[index + 1], vault, "decimals"))
            amount = EXACT.scaleb(Decimal(balance), -int(decimals))
        found[vault.asset] = EXACT.add(found.get(vault.asset, Decimal(0)), amount)
    return found


def _balance_call(
    generation: BookGeneration, orderbook: str, owner: str, vault: VaultRef
) -> tuple[str, tuple[str, list[object]]]:
    if generation is BookGeneration.FLOAT and vault.vault_id == 0:  # vaultless: the owner's wallet
        data = BALANCE_OF + abi_encode(["address"], [owner]).hex()
        return "balanceOf", ("eth_call", [{"to": vault.token, "data": data}, "latest"])
    selector, what = (
        (VAULT_BALANCE2, "vaultBalance2") if generation is BookGeneration.FLOAT else (VAULT_BALANCE, "vaultBalance")
    )
    data = selector + abi_encode(["address", "address", "uint256"], [owner, vault.token, vault.vault_id]).hex()
    return what, ("eth_call", [{"to": orderbook, "data": data}, "latest"])


def _float_amount(raw: bytes, vault: VaultRef) -> Decimal:
    if len(raw) != 32:
        raise InventoryError(f"{vault.asset} vault {vault.vault_id}: vaultBalance2 answer is not one Float word")
    value = RainFloat.from_bytes(raw).value
    if value < 0:
        raise InventoryError(f"{vault.asset} vault {vault.vault_id}: vaultBalance2 is negative ({value})")
    return value


def _hex(answer: object, vault: VaultRef, what: str) -> bytes:
    if isinstance(answer, RpcResponseError) or not isinstance(answer, str) or not answer.startswith("0x"):
        raise InventoryError(f"{vault.asset} vault {vault.vault_id}: {what} failed: {answer}")
    try:
        return bytes.fromhex(answer[2:])
    except ValueError:
        raise InventoryError(f"{vault.asset} vault {vault.vault_id}: {what} answer is not hex") from None


class InventoryError(Exception):
    """Inventory could not be read (one line for the operator)."""


class InventoryUnreadable(InventoryError):
    """One source of the inventory could not be read — ``onchain`` (the node, a vault), ``broker``,
    ``ledger`` or ``config`` (a vault spec) — so no line is judged: a drift computed from one venue's
    numbers and a zero for the other would suggest a transfer that is not needed. Says which source."""

    def __init__(self, source: str, reason: object) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source


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
    """Holdings per asset: every asset with a vault, a broker position or a ledger position; USDC last.
    Raises :class:`InventoryUnreadable` naming the venue (``onchain`` or ``broker``) that failed."""
    try:
        onchain = await vault_balances(client, orderbook, owner, vaults)
    except (InventoryError, ChainRpcError) as exc:
        raise InventoryUnreadable(venue_label(Venue.ONCHAIN), exc) from exc
    try:
        positions = {str(p.symbol): p.quantity.value for p in await broker.positions()}
        cash = (await broker.balances()).cash.value
    except BrokerError as exc:
        raise InventoryUnreadable(venue_label(Venue.OFFCHAIN), exc) from exc
    ledger = dict(unhedged or {})
    assets = sorted((set(onchain) | set(positions) | set(ledger)) - {USDC})
    holdings = [
        Holding(a, onchain.get(a, Decimal(0)), positions.get(a, Decimal(0)), ledger.get(a, Decimal(0))) for a in assets
    ]
    holdings.append(Holding(USDC, onchain.get(USDC, Decimal(0)), cash))
    return holdings
