"""In-process publish/subscribe: the engine publishes immutable messages, the console and the API read.

Each subscriber has its own bounded queue. A slow subscriber never slows the engine: when its queue is
full the oldest message is dropped and counted (the console redraws from the next snapshot anyway).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Subscription:
    queue: asyncio.Queue[Any]
    dropped: int = 0

    async def get(self) -> Any:
        return await self.queue.get()


@dataclass
class Bus:
    maxsize: int = 10_000
    _subscribers: list[Subscription] = field(default_factory=list)

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        subscription = Subscription(asyncio.Queue(maxsize or self.maxsize))
        self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def publish(self, message: Any) -> None:
        for subscription in self._subscribers:
            if subscription.queue.full():
                subscription.queue.get_nowait()
                subscription.dropped += 1
            subscription.queue.put_nowait(message)
