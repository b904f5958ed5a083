"""Request bodies of the control routes: JSON text → typed, validated values, or :class:`BadRequest`
with one precise line saying what is wrong.

Strict on purpose (these bodies move money): the body must be one JSON object with no duplicate and no
unknown keys; ``NaN``/``Infinity`` are refused; ``shares`` is a plain decimal *string* (``"1.5"``) — a
JSON number, an exponent (``"1e3"``), a sign or blanks are refused, so what the operator typed is
exactly what is hedged.

Who asks and why is the domain :class:`~arbtui.domain.values.Audit`, stamped with the time the request was
received (the caller's clock).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arbtui.domain.values import Audit, Direction, InvalidAmount, InvalidSymbol, Shares, Symbol

MAX_REASON_LENGTH = 500
MAX_ACTOR_LENGTH = 100
DEFAULT_ACTOR = "api"

_PLAIN_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_SIDES = {"buy": Direction.BUY, "sell": Direction.SELL}


class BadRequest(Exception):
    """The request body cannot be a valid command; ``str`` is the one line the client is shown."""


@dataclass(frozen=True)
class SymbolScope:
    """A pause/resume: one symbol, or every symbol (``None``)."""

    symbol: Symbol | None
    audit: Audit


@dataclass(frozen=True)
class ManualHedge:
    symbol: Symbol
    direction: Direction
    shares: Shares
    audit: Audit
    allow_overhedge: bool = False


def parse_symbol_scope(raw: bytes, *, at: datetime) -> SymbolScope:
    """``{"symbol": "AAPL" | null, "reason": "...", "actor"?: "..."}`` — ``symbol`` must be present:
    ``null`` (every symbol) is stated, never implied by a forgotten key."""
    body = _object(raw, required={"symbol", "reason"}, optional={"actor"})
    value = body["symbol"]
    symbol = None if value is None else _symbol(value, nullable=True)
    return SymbolScope(symbol, _audit(body, at))


def parse_audit(raw: bytes, *, at: datetime) -> Audit:
    """``{"reason": "...", "actor"?: "..."}`` (kill switch, clear kill switch)."""
    return _audit(_object(raw, required={"reason"}, optional={"actor"}), at)


def parse_manual_hedge(raw: bytes, *, at: datetime) -> ManualHedge:
    """``{"symbol": "AAPL", "side": "buy" | "sell", "shares": "1.5", "reason": "...", "actor"?: "...",
    "allow_overhedge"?: false}``."""
    body = _object(raw, required={"symbol", "side", "shares", "reason"}, optional={"actor", "allow_overhedge"})
    side = body["side"]
    if not isinstance(side, str) or side.lower() not in _SIDES:
        raise BadRequest(f'side must be "buy" or "sell", got {_show(side)}')
    allow = body.get("allow_overhedge", False)
    if not isinstance(allow, bool):
        raise BadRequest(f"allow_overhedge must be true or false, got {_json_type(allow)}")
    return ManualHedge(
        _symbol(body["symbol"], nullable=False),
        _SIDES[side.lower()],
        _shares(body["shares"]),
        _audit(body, at),
        allow_overhedge=allow,
    )


def _object(raw: bytes, *, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not raw.strip():
        raise BadRequest("request body is empty: expected a JSON object")
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"request body must be a JSON object, got {_json_type(value)}")
    missing = sorted(required - value.keys())
    if missing:
        raise BadRequest("missing field" + ("s" if len(missing) > 1 else "") + ": " + ", ".join(missing))
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise BadRequest(f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} (allowed: {allowed})")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadRequest(f"duplicate field: {key}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise BadRequest(f"{name} is not allowed in the request body")


def _audit(body: dict[str, Any], at: datetime) -> Audit:
    reason = body["reason"]
    if not isinstance(reason, str):
        raise BadRequest(f"reason must be a string, got {_json_type(reason)}")
    reason = reason.strip()
    if not reason:
        raise BadRequest("reason must not be empty: say why (it is recorded with the event)")
    if len(reason) > MAX_REASON_LENGTH:
        raise BadRequest(f"reason is too long ({len(reason)} characters; at most {MAX_REASON_LENGTH})")
    actor = body.get("actor", DEFAULT_ACTOR)
    if not isinstance(actor, str):
        raise BadRequest(f"actor must be a string, got {_json_type(actor)}")
    actor = actor.strip()
    if not actor:
        raise BadRequest("actor must not be empty (leave it out to record the default)")
    if len(actor) > MAX_ACTOR_LENGTH:
        raise BadRequest(f"actor is too long ({len(actor)} characters; at most {MAX_ACTOR_LENGTH})")
    return Audit(actor=actor, reason=reason, at=at)


def _symbol(value: object, *, nullable: bool) -> Symbol:
    if not isinstance(value, str):
        expected = "a ticker string or null" if nullable else "a ticker string"
        raise BadRequest(f"symbol must be {expected}, got {_json_type(value)}")
    try:
        return Symbol(value)
    except InvalidSymbol as exc:
        raise BadRequest(f'symbol: {exc} (upper case, e.g. "AAPL" or "BRK.B")') from exc


def _shares(value: object) -> Shares:
    if not isinstance(value, str):
        raise BadRequest(
            f'shares must be a decimal string such as "1.5", got {_json_type(value)}: '
            "amounts are exact, a JSON number is refused"
        )
    if not _PLAIN_DECIMAL.fullmatch(value):
        raise BadRequest(f'shares must be a plain positive decimal such as "1.5", got {_show(value)}')
    try:
        shares = Shares(value)
    except InvalidAmount as exc:  # pragma: no cover - the pattern admits only valid decimals
        raise BadRequest(f"shares: {exc}") from exc
    if not shares.is_positive:
        raise BadRequest(f"shares must be positive, got {_show(value)}")
    return shares


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _show(value: object) -> str:
    """A short, safe rendering of a client value for an error message."""
    if isinstance(value, str):
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + '..."'
    return _json_type(value)
