"""Small real pieces for engine tests: what the engine published, and an intake that records nothing."""

from __future__ import annotations

import asyncio

from arbtui.chain.signals import IntakeObserver
from arbtui.engine.alerts import Alert
from arbtui.engine.lifecycle import Engine
from arbtui.engine.messages import AlertCleared, AlertRaised, EngineMessage


def alerts_of(engine: Engine) -> list[Alert]:
    """Every alert and recovery notice the engine publishes from now on, in order (a bus listener)."""
    seen: list[Alert] = []

    def keep(message: EngineMessage) -> None:
        if isinstance(message, AlertRaised | AlertCleared):
            seen.append(message.alert)

    engine.bus.listen(keep)
    return seen


class QuietIntake:
    """An intake whose chain is silent: it runs until stopped and reports only what a test sends through
    the observer it was built with (the engine's health watch)."""

    def __init__(self, observer: IntakeObserver) -> None:
        self.observer = observer
        self._stopped = asyncio.Event()

    async def prepare(self) -> None:
        """No node to check."""

    async def run(self) -> None:
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()
