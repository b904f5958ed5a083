"""Every aggregate's ``decide`` and ``evolve`` dispatch over a closed union: a command, an event or a
state no branch names is an error (``assert_never``), never handled by an assumed last branch.

``mypy --strict`` proves the same statically (a union member without its ``case`` fails the type
check); these tests prove it at run time, for values that slipped past the types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from arbtui.domain import control, offchain_order, onchain_trade, position, schwab_auth
from arbtui.domain.events import DomainEvent, Frozen
from arbtui.domain.values import Audit, Cents, Shares
from tests.unit.domain.factory import at, exec_id, fill, order_placed, tid, trade_id

UNREACHABLE = "Expected code to be unreachable"


class Unknown(Frozen):
    """A command no aggregate knows, carrying what the checks before the dispatch read (an audit, token
    ciphertexts), so it reaches the dispatch itself."""

    audit: Audit = Audit(actor="ops", reason="a command from the future", at=at())
    access_token_ciphertext: str = "enc:access"
    refresh_token_ciphertext: str = "enc:refresh"


class Unheard(DomainEvent):
    """An event no aggregate knows."""


Decide = Callable[[Any, Any], list[Any]]
Evolve = Callable[[Any, Any], Any]

AGGREGATES: list[tuple[str, Any, Decide, Evolve]] = [
    ("control", control.initial(control.CONTROL_ID), control.decide, control.evolve),
    ("offchain_order", offchain_order.initial(str(exec_id(1))), offchain_order.decide, offchain_order.evolve),
    ("onchain_trade", onchain_trade.initial(tid(1)), onchain_trade.decide, onchain_trade.evolve),
    ("position", position.initial("AAPL"), position.decide, position.evolve),
    ("schwab_auth", schwab_auth.initial(schwab_auth.SCHWAB_ID), schwab_auth.decide, schwab_auth.evolve),
]
IDS = [name for name, *_ in AGGREGATES]


@pytest.mark.parametrize(("name", "state", "decide", "evolve"), AGGREGATES, ids=IDS)
def test_decide_refuses_a_command_outside_its_union(name: str, state: Any, decide: Decide, evolve: Evolve) -> None:
    with pytest.raises(AssertionError, match=UNREACHABLE):
        decide(state, Unknown())


@pytest.mark.parametrize(("name", "state", "decide", "evolve"), AGGREGATES, ids=IDS)
def test_evolve_refuses_an_event_outside_its_union(name: str, state: Any, decide: Decide, evolve: Evolve) -> None:
    with pytest.raises(AssertionError, match=UNREACHABLE):
        evolve(state, Unheard())


@pytest.mark.parametrize(
    "command",
    [
        offchain_order.ConfirmSubmission(broker_order_id="B-1", at=at(1)),
        offchain_order.Fail(error="rejected", at=at(1)),
        offchain_order.CompleteFill(price_cents=Cents("18700"), at=at(1)),
    ],
    ids=lambda command: type(command).__name__,
)
def test_an_order_status_no_branch_names_is_an_error(command: offchain_order.OffchainOrderCommand) -> None:
    placed = offchain_order.evolve(offchain_order.initial(str(exec_id(1))), order_placed("2"))
    state = placed.evolved(status="ARCHIVED")  # a status the enum does not have (a corrupt or future state)
    with pytest.raises(AssertionError, match=UNREACHABLE):
        offchain_order.decide(state, command)


@pytest.mark.parametrize(
    "command",
    [
        onchain_trade.Witness(fill=fill(1, "1"), at=at(1)),
        onchain_trade.RecordSkip(
            skip=onchain_trade.SkippedFill(
                trade_id=trade_id(1),
                block_number=1,
                block_hash="0x" + "ab" * 32,
                reason=onchain_trade.SkipReason.ZERO_AMOUNT,
                detail="",
            ),
            at=at(1),
        ),
        onchain_trade.Enrich(gas_used=1, pyth_price=None),
        onchain_trade.Retract(reorg_depth=1, detected_at_block=2),
    ],
    ids=lambda command: type(command).__name__,
)
def test_a_trade_status_no_branch_names_is_an_error(command: onchain_trade.OnChainTradeCommand) -> None:
    state = onchain_trade.initial(tid(1)).evolved(status="archived")
    with pytest.raises(AssertionError, match=UNREACHABLE):
        onchain_trade.decide(state, command)


def test_a_threshold_kind_no_branch_names_is_an_error() -> None:
    threshold = position.Threshold().evolved(kind="percent")
    with pytest.raises(AssertionError, match=UNREACHABLE):
        threshold.hedge_size(Shares(5), None)
