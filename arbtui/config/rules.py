"""Rules that span fields, checked on raw values (so that a problem names the key the operator set) and
again by the settings model itself."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import SecretStr, TypeAdapter, ValidationError

from arbtui.config.fields import SECRET_ENVIRONMENT, is_loopback, parse_listen
from arbtui.domain.position import ThresholdKind
from arbtui.domain.values import BrokerKind

RULES_ERROR = "config_rules"
"""The pydantic error type the settings model raises for these rules."""

MIN_CONTROL_TOKEN_LENGTH = 32
"""Shortest ``ARBTUI_CONTROL_TOKEN`` accepted with ``api.allow_remote = true`` (``arbtui token new`` prints 43
characters: 256 random bits)."""

NEEDS: Mapping[str, tuple[str, ...]] = {
    "alpaca": ("alpaca_api_key", "alpaca_api_secret"),
    "schwab": ("schwab_app_key", "schwab_app_secret", "encryption_key"),
}
"""Secrets each broker kind needs (field names of the settings)."""


class Origins:
    """Where each overridden key came from, so a problem names the variable the operator set."""

    def __init__(self, names: dict[tuple[str, ...], str]) -> None:
        self.names = names

    def name(self, loc: tuple[str, ...]) -> str:
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.names:
                return self.names[loc[:end]]
        if len(loc) == 1 and loc[0] in SECRET_ENVIRONMENT:
            return SECRET_ENVIRONMENT[loc[0]]
        return ".".join(loc) if loc else "config"


def rule_problems(data: Mapping[str, Any], origins: Origins) -> list[str]:
    """Cross-field rules over raw or validated values; a value that is itself invalid is left to its
    own message."""
    problems: list[str] = []
    chain = _table(data, "chain")
    if chain.get("http_url") in (None, ""):
        problems.append(
            "chain.http_url: required (logs, headers, token reads and traces go over HTTP;"
            " chain.ws_url only adds the live subscription)"
        )
    problems += _lag_rule(_table(data, "chain"), origins)
    if isinstance(data.get("chain"), Mapping):  # a missing [chain] is reported as such
        problems += _orderbooks_rule(_table(data, "chain"), origins)
    broker = _table(data, "broker")
    kind = _text(broker.get("kind", BrokerKind.DRY_RUN))
    problems += _hedging_rules(_table(data, "hedging"), kind, origins)
    dollars = _text(broker.get("threshold")) == ThresholdKind.DOLLARS
    if dollars and kind in {k.value for k in BrokerKind} and kind != BrokerKind.ALPACA:
        where = origins.name(("broker", "threshold"))
        problems.append(f"{where}: 'dollars' (fractional shares) needs broker.kind = 'alpaca', not {kind!r}")
    for field in NEEDS.get(str(kind), ()):
        if data.get(field) is None:
            problems.append(f"{SECRET_ENVIRONMENT[field]}: missing; broker.kind = {kind!r} needs it in the environment")
    telegram = _table(_table(data, "alerts"), "telegram")
    if telegram.get("chat_id") not in (None, "") and data.get("telegram_bot_token") is None:
        problems.append(
            f"{SECRET_ENVIRONMENT['telegram_bot_token']}: missing; alerts.telegram.chat_id is set, and Telegram"
            " needs the bot's token in the environment"
        )
    api = _table(data, "api")
    listen = parse_listen(_text(api.get("listen", "127.0.0.1:8080")) or "")
    remote = _boolean(api.get("allow_remote", False))
    if listen is not None and remote is False and not is_loopback(listen[0]):
        where = origins.name(("api", "listen"))
        problems.append(
            f"{where}: {listen[0]!r} is not a loopback address; set api.allow_remote = true to accept "
            "connections from other machines"
        )
    token = _secret_text(data.get("control_token"))
    if remote and data.get("control_token") is None:
        problems.append("ARBTUI_CONTROL_TOKEN: missing; api.allow_remote = true needs a control token")
    elif remote and token and len(token) < MIN_CONTROL_TOKEN_LENGTH:
        problems.append(
            f"ARBTUI_CONTROL_TOKEN: {len(token)} character{'s' if len(token) != 1 else ''}; "
            f"api.allow_remote = true needs at least {MIN_CONTROL_TOKEN_LENGTH} (`arbtui token new` prints one)"
        )
    return problems


def _lag_rule(chain: Mapping[str, Any], origins: Origins) -> list[str]:
    """The ledger always stays ``confirmations`` blocks behind the head: a lag bound at or under it would
    never be met, and the bot never ready."""
    confirmations, max_lag = _integer(chain.get("confirmations", 0)), _integer(chain.get("max_lag_blocks", 30))
    if confirmations is None or max_lag is None or max_lag > confirmations:  # a wrong type: the field says it
        return []
    return [
        f"{origins.name(('chain', 'max_lag_blocks'))}: {max_lag} must be more than chain.confirmations"
        f" ({confirmations}): the ledger always stays that many blocks behind the head, so it would never be ready"
    ]


MAX_CROSS_BPS = 1000
"""The widest cross ``[hedging]`` accepts: 10 % past the reference price."""
MIN_REPRICE_S = 5
"""Reprice no more often than this many seconds (each reprice is a cancel and a new order)."""

OVERNIGHT_VENUES = frozenset({BrokerKind.ALPACA.value, BrokerKind.DRY_RUN.value})
"""Brokers with an overnight session (Alpaca's 24/5; the dry run stands in for it). Schwab's Trader API
has none (``session`` is NORMAL, AM, PM or SEAMLESS)."""


def _hedging_rules(hedging: Mapping[str, Any], kind: str | None, origins: Origins) -> list[str]:
    problems: list[str] = []
    sessions: list[tuple[tuple[str, ...], object]] = [(("hedging", "sessions"), hedging.get("sessions"))]
    symbols = hedging.get("symbols")
    if isinstance(symbols, Mapping):
        for ticker, table in symbols.items():
            if isinstance(table, Mapping):
                sessions.append((("hedging", "symbols", str(ticker), "sessions"), table.get("sessions")))
    known_kind = kind in {k.value for k in BrokerKind}
    for loc, words in sessions:
        if known_kind and kind not in OVERNIGHT_VENUES and isinstance(words, list | tuple) and "overnight" in words:
            problems.append(
                f"{origins.name(loc)}: 'overnight' needs broker.kind = 'alpaca' (the only broker with an overnight"
                f" session), not {kind!r}"
            )
    # Each value out of its own range is its field's problem; these rules only compare valid ones.
    base, widest = _number(hedging.get("flatten_cross_bps", 50)), _number(hedging.get("flatten_max_cross_bps", 200))
    if base is not None and widest is not None and 0 <= widest < base <= MAX_CROSS_BPS:
        problems.append(
            f"{origins.name(('hedging', 'flatten_max_cross_bps'))}: {widest} must be at least"
            f" hedging.flatten_cross_bps ({base}): the cross widens toward the close, never narrows"
        )
    normal = _number(hedging.get("reprice_interval_s", 60))
    flatten = _number(hedging.get("flatten_reprice_interval_s", 15))
    if normal is not None and flatten is not None and MIN_REPRICE_S <= normal < flatten:
        problems.append(
            f"{origins.name(('hedging', 'flatten_reprice_interval_s'))}: {flatten} must be at most"
            f" hedging.reprice_interval_s ({normal}): the flatten reprices more often, not less"
        )
    return problems


def _number(value: object) -> Decimal | None:
    """A number from TOML (int or float) or from the environment's text; anything else: ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _orderbooks_rule(chain: Mapping[str, Any], origins: Origins) -> list[str]:
    """At least one orderbook (``chain.orderbook`` or ``[[chain.orderbooks]]``), none listed twice."""
    books = chain.get("orderbooks") or ()
    if chain.get("orderbook") in (None, "") and not books:
        return [
            f"{origins.name(('chain', 'orderbook'))}: missing (required; or list the books as"
            " [[chain.orderbooks]] with address and deployment_block)"
        ]
    addresses = [chain.get("orderbook")] if chain.get("orderbook") else []
    if isinstance(books, list | tuple):
        addresses += [book.get("address") for book in books if isinstance(book, Mapping)]
    seen: set[str] = set()
    for address in addresses:
        if isinstance(address, str) and address.lower() in seen:
            return [f"chain.orderbooks: {address} is configured twice (each orderbook once)"]
        if isinstance(address, str):
            seen.add(address.lower())
    return []


def _integer(value: object) -> int | None:
    """An integer from TOML, or from the environment's text (``"12"``)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) else None


def _secret_text(value: object) -> str | None:
    """A secret's text, raw (``str``) or validated (:class:`SecretStr`); never printed."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else None


def _boolean(value: object) -> bool | None:
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return None
