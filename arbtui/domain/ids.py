"""Where execution ids come from: injected, like the clock, into the ledger and the engine (the one
place that builds them chooses: random for operators, counted for reproducible screenshots and tests)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Protocol

from arbtui.domain.values import ExecutionId


class Ids(Protocol):
    """Execution ids; each is also the broker's client order id, so it must be unique for good."""

    def execution_id(self) -> ExecutionId: ...


class RandomIds:
    """Version 4 UUIDs."""

    def execution_id(self) -> ExecutionId:
        return ExecutionId(str(uuid.uuid4()))


class CountingIds:
    """Execution ids drawn in order from ``make(1)``, ``make(2)``… (reproducible screenshots and tests)."""

    def __init__(self, make: Callable[[int], str]) -> None:
        self._make = make
        self._drawn = itertools.count(1)

    def execution_id(self) -> ExecutionId:
        return ExecutionId(self._make(next(self._drawn)))
