"""Control: pause/resume (all and per symbol), kill switch, manual-hedge audit; actor and reason required."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from arbtui.domain.control import (
    CONTROL_ID,
    SPEC,
    ClearKillSwitch,
    ControlCommand,
    EngageKillSwitch,
    HedgingPaused,
    HedgingResumed,
    KillSwitchCleared,
    KillSwitchEngagedEvent,
    ManualHedgeRequested,
    Pause,
    RequestManualHedge,
    Resume,
    decide,
)
from arbtui.domain.errors import ControlStateConflict, InvalidCommand, KillSwitchEngaged
from arbtui.domain.values import Audit, Shares, Symbol
from tests.unit.domain.factory import BUY, at, exec_id
from tests.unit.domain.gwt import given

WHO = Audit(actor="alice", reason="earnings call", at=at())
AAPL = Symbol("AAPL")
TSLA = Symbol("TSLA")
PAUSED_ALL = HedgingPaused(symbol=None, audit=WHO)
PAUSED_AAPL = HedgingPaused(symbol=AAPL, audit=WHO)
KILLED = KillSwitchEngagedEvent(audit=WHO)


def hedge(shares: str = "1") -> RequestManualHedge:
    return RequestManualHedge(symbol=AAPL, direction=BUY, shares=Shares(shares), execution_id=exec_id(3), audit=WHO)


def test_pause_and_resume_all() -> None:
    state = given(SPEC, CONTROL_ID).when(decide, Pause(symbol=None, audit=WHO)).then(PAUSED_ALL)
    assert not state.hedging_allowed("AAPL")
    assert not state.hedging_allowed("TSLA")
    state = (
        given(SPEC, CONTROL_ID, PAUSED_ALL)
        .when(decide, Resume(symbol=None, audit=WHO))
        .then(HedgingResumed(symbol=None, audit=WHO))
    )
    assert state.hedging_allowed("AAPL")
    assert state.paused_all is None


def test_pause_and_resume_one_symbol() -> None:
    state = given(SPEC, CONTROL_ID).when(decide, Pause(symbol=AAPL, audit=WHO)).then(PAUSED_AAPL)
    assert not state.hedging_allowed("AAPL")
    assert state.hedging_allowed("TSLA")
    assert state.paused_symbols == {"AAPL": WHO}
    state = (
        given(SPEC, CONTROL_ID, PAUSED_AAPL)
        .when(decide, Resume(symbol=AAPL, audit=WHO))
        .then(HedgingResumed(symbol=AAPL, audit=WHO))
    )
    assert state.hedging_allowed("AAPL")
    assert state.paused_symbols == {}


def test_resume_all_also_clears_symbol_pauses() -> None:
    state = (
        given(SPEC, CONTROL_ID, PAUSED_AAPL)
        .when(decide, Resume(symbol=None, audit=WHO))
        .then(HedgingResumed(symbol=None, audit=WHO))
    )
    assert state.hedging_allowed("AAPL")


@pytest.mark.parametrize(
    ("history", "command", "match"),
    [
        ((PAUSED_ALL,), Pause(symbol=None, audit=WHO), "already paused"),
        ((PAUSED_AAPL,), Pause(symbol=AAPL, audit=WHO), "AAPL is already paused"),
        ((), Resume(symbol=None, audit=WHO), "not paused"),
        ((), Resume(symbol=AAPL, audit=WHO), "AAPL is not paused"),
        ((PAUSED_AAPL,), Resume(symbol=TSLA, audit=WHO), "TSLA is not paused"),
        ((PAUSED_ALL,), Resume(symbol=AAPL, audit=WHO), "resume everything"),
        ((PAUSED_ALL, PAUSED_AAPL), Resume(symbol=AAPL, audit=WHO), "resume everything"),
        ((KILLED,), EngageKillSwitch(audit=WHO), "already engaged"),
        ((), ClearKillSwitch(audit=WHO), "not engaged"),
    ],
)
def test_conflicting_control_commands_are_rejected(
    history: tuple[HedgingPaused | KillSwitchEngagedEvent, ...], command: ControlCommand, match: str
) -> None:
    given(SPEC, CONTROL_ID, *history).when(decide, command).then_raises(ControlStateConflict, match=match)


def test_kill_switch_stops_all_hedging_and_refuses_manual_hedges_until_cleared() -> None:
    state = given(SPEC, CONTROL_ID).when(decide, EngageKillSwitch(audit=WHO)).then(KILLED)
    assert not state.hedging_allowed("AAPL")
    given(SPEC, CONTROL_ID, KILLED).when(decide, hedge()).then_raises(KillSwitchEngaged, match="alice")
    cleared = KillSwitchCleared(audit=WHO)
    state = given(SPEC, CONTROL_ID, KILLED).when(decide, ClearKillSwitch(audit=WHO)).then(cleared)
    assert state.hedging_allowed("AAPL")
    given(SPEC, CONTROL_ID, KILLED, cleared).when(decide, hedge()).then(
        ManualHedgeRequested(symbol=AAPL, direction=BUY, shares=Shares(1), execution_id=exec_id(3), audit=WHO)
    )


def test_resume_does_not_clear_the_kill_switch() -> None:
    state = (
        given(SPEC, CONTROL_ID, KILLED, PAUSED_ALL)
        .when(decide, Resume(symbol=None, audit=WHO))
        .then(HedgingResumed(symbol=None, audit=WHO))
    )
    assert state.kill_switch == WHO
    assert not state.hedging_allowed("AAPL")
    given(SPEC, CONTROL_ID, KILLED, PAUSED_ALL, HedgingResumed(symbol=None, audit=WHO)).when(
        decide, hedge()
    ).then_raises(KillSwitchEngaged)


def test_manual_hedge_while_paused_is_recorded() -> None:
    state = (
        given(SPEC, CONTROL_ID, PAUSED_ALL)
        .when(decide, hedge("2"))
        .then(ManualHedgeRequested(symbol=AAPL, direction=BUY, shares=Shares(2), execution_id=exec_id(3), audit=WHO))
    )
    assert state.paused_all == WHO


@pytest.mark.parametrize("shares", ["0", "-2"])
def test_manual_hedge_needs_positive_shares(shares: str) -> None:
    given(SPEC, CONTROL_ID).when(decide, hedge(shares)).then_raises(InvalidCommand, match="positive")


@pytest.mark.parametrize(("actor", "reason"), [("", "why"), ("  ", "why"), ("bob", ""), ("bob", "\t")])
@pytest.mark.parametrize(
    "make",
    [
        lambda a: Pause(symbol=None, audit=a),
        lambda a: Pause(symbol=AAPL, audit=a),
        lambda a: Resume(symbol=None, audit=a),
        lambda a: EngageKillSwitch(audit=a),
        lambda a: ClearKillSwitch(audit=a),
        lambda a: RequestManualHedge(symbol=AAPL, direction=BUY, shares=Shares(1), execution_id=exec_id(3), audit=a),
    ],
)
def test_actor_and_reason_are_required(actor: str, reason: str, make: Callable[[Audit], ControlCommand]) -> None:
    command = make(Audit(actor=actor, reason=reason, at=at()))
    given(SPEC, CONTROL_ID, PAUSED_ALL, KILLED).when(decide, command).then_raises(
        InvalidCommand, match="actor and reason"
    )
