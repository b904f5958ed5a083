"""In-process publish/subscribe of :data:`~arbtui.engine.messages.EngineMessage`.

Two kinds of reader. A *listener* is called synchronously on publish (the engine's health watch: cheap,
never blocks). A *subscription* has its own bounded queue (the console, the HTTP service): a slow one
never slows the engine — when its queue is full the oldest message is dropped and counted (the console
redraws from the next snapshot anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from arbtui.engine.messages import EngineMessage


@dataclass
class Subscription:
    queue: asyncio.Queue[EngineMessage]
    dropped: int = 0

    async def get(self) -> EngineMessage:
        return await self.queue.get()


@dataclass
class Bus:
    maxsize: int = 10_000
    _subscribers: list[Subscription] = field(default_factory=list)
    _listeners: list[Callable[[EngineMessage], None]] = field(default_factory=list)

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        subscription = Subscription(asyncio.Queue(maxsize or self.maxsize))
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def listen(self, listener: Callable[[EngineMessage], None]) -> None:
        """Call ``listener`` with every message, synchronously, before the subscriptions get it."""
        self._listeners.append(listener)

    def publish(self, message: EngineMessage) -> None:
        for listener in self._listeners:
            listener(message)
        for subscription in self._subscribers:
            if subscription.queue.full():
                subscription.queue.get_nowait()
                subscription.dropped += 1
            subscription.queue.put_nowait(message)
