"""Kills the bot with SIGKILL at chosen kinds of instants — right after a fill's receipt, inside the
broker's submit handler before or after the order is created, while an order is in flight, during
start-up recovery, at random — and restarts it each time."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from tests.e2e.harness import Bot, CountingAlpacaServer, FillEmitter, eventually

MODES = ("after_fill", "before_order_created", "after_order_created", "order_in_flight", "random", "startup")


class Killer:
    """Kills the bot at chosen instants, each kind of instant on purpose, and restarts it."""

    def __init__(self, bot: Bot, alpaca: CountingAlpacaServer, emitter: FillEmitter, rng: random.Random) -> None:
        self.bot = bot
        self.alpaca = alpaca
        self.rng = rng
        self.modes: Counter[str] = Counter()
        self._fill_sent: asyncio.Event | None = None
        loop = asyncio.get_running_loop()

        def on_sent() -> None:
            loop.call_soon_threadsafe(self._on_fill_sent)

        emitter.sent_listeners.append(on_sent)

    def _on_fill_sent(self) -> None:
        if self._fill_sent is not None:
            self._fill_sent.set()

    async def _kill_from_server(self, hook: str) -> bool:
        """Kill from inside the server's submit handler (before or after it creates the order)."""
        fired = asyncio.Event()

        async def kill() -> None:
            await self.bot.kill9()
            fired.set()

        setattr(self.alpaca, hook, kill)
        try:
            await asyncio.wait_for(fired.wait(), 4.0)
            return True
        except TimeoutError:
            return False
        finally:
            setattr(self.alpaca, hook, None)

    async def one(self) -> str:
        """Wait for an instant of a random kind, kill -9 there, restart. Returns the kind that fired."""
        mode = self.rng.choice(MODES)
        fired = False
        if mode == "after_fill":
            self._fill_sent = asyncio.Event()
            try:
                await asyncio.wait_for(self._fill_sent.wait(), 4.0)
                await asyncio.sleep(self.rng.uniform(0, 0.05))  # the kill instant: 0-50 ms after the receipt
                fired = True
            except TimeoutError:
                pass
            finally:
                self._fill_sent = None
        elif mode in ("before_order_created", "after_order_created"):
            fired = await self._kill_from_server("before_create" if mode == "before_order_created" else "after_create")
        elif mode == "order_in_flight":  # an order accepted but not yet filled at the broker
            before = set(self.alpaca.book.orders)
            try:
                await eventually(
                    lambda: bool(set(self.alpaca.book.orders) - before), within=4.0, what="an order", every=0.005
                )
                fired = True
            except AssertionError:
                pass
        elif mode == "random":
            await asyncio.sleep(self.rng.uniform(0.05, 1.5))  # the kill instant itself
            fired = True
        if not fired:  # the awaited instant did not come within 4 s: kill now, counted as such
            mode = "random" if mode != "startup" else mode
        if mode == "startup":  # restart, then kill again during start-up / recovery
            await self.bot.kill9()
            await self.bot.start()
            await asyncio.sleep(self.rng.uniform(0.1, 1.2))
        await self.bot.kill9()
        self.modes[mode] += 1
        await self.bot.start()
        await self.bot.wait_healthy()
        return mode
