"""The Given-When-Then helper must itself be able to fail."""

from __future__ import annotations

import pytest

from arbtui.domain.errors import InvalidCommand, UnknownExecution
from arbtui.domain.position import SPEC, decide
from tests.unit.domain.factory import ack, acked, complete
from tests.unit.domain.gwt import given


def test_then_fails_on_other_events() -> None:
    with pytest.raises(AssertionError, match="expected"):
        given(SPEC, "AAPL").when(decide, ack(1, "0.3")).then(acked(1, "0.4"))
    with pytest.raises(AssertionError):
        given(SPEC, "AAPL").when(decide, ack(1, "0.3")).then_nothing()


def test_then_raises_fails_on_success_wrong_type_or_message() -> None:
    with pytest.raises(pytest.fail.Exception):
        given(SPEC, "AAPL").when(decide, ack(1, "0.3")).then_raises(InvalidCommand)
    with pytest.raises(AssertionError, match="expected InvalidCommand, got UnknownExecution"):
        given(SPEC, "AAPL").when(decide, complete(1, "1")).then_raises(InvalidCommand)
    with pytest.raises(AssertionError, match="does not match"):
        given(SPEC, "AAPL").when(decide, complete(1, "1")).then_raises(UnknownExecution, match="overfill")


def test_given_folds_the_history() -> None:
    assert str(given(SPEC, "AAPL", acked(1, "0.3"), acked(2, "0.5")).state.net) == "-0.8"
