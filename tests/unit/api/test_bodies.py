"""Control bodies build the one domain :class:`Audit`: trimmed actor (``api`` when left out) and reason,
stamped with the time the service received the request."""

from __future__ import annotations

from datetime import UTC, datetime

from arbtui.api._bodies import DEFAULT_ACTOR, parse_audit, parse_manual_hedge, parse_symbol_scope
from arbtui.domain.values import Audit, Direction, Shares, Symbol

RECEIVED = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)


def test_kill_and_clear_bodies_are_an_audit() -> None:
    audit = parse_audit(b'{"reason": "  halt  ", "actor": " carol "}', at=RECEIVED)
    assert audit == Audit(actor="carol", reason="halt", at=RECEIVED)


def test_pause_and_resume_bodies_carry_an_audit_with_the_default_actor() -> None:
    scope = parse_symbol_scope(b'{"symbol": "AAPL", "reason": "earnings"}', at=RECEIVED)
    assert (scope.symbol, scope.audit) == (Symbol("AAPL"), Audit(actor=DEFAULT_ACTOR, reason="earnings", at=RECEIVED))


def test_a_manual_hedge_body_carries_an_audit() -> None:
    body = b'{"symbol": "AAPL", "side": "sell", "shares": "1.5", "reason": "top-up", "actor": "bob"}'
    hedge = parse_manual_hedge(body, at=RECEIVED)
    assert (hedge.direction, hedge.shares) == (Direction.SELL, Shares("1.5"))
    assert hedge.audit == Audit(actor="bob", reason="top-up", at=RECEIVED)
