"""Chaos: a node whose log index lags its headers (issue 18, lesson 16).

The bot is restarted behind an RPC proxy (:class:`tests.chain_support.proxy.RpcProxy`, HTTP only, as
many hosted endpoints are) that, for a while, answers ``eth_getLogs`` over a range reaching the newest
:data:`LAG` blocks with ``[]`` while headers pass through unchanged — more blocks than the bot's
``confirmations``. In the ``late_receipts`` variant the receipts of those blocks come without our logs
too (they look complete: only the trailing re-scan can catch it). Blocks keep coming, as on Base, while
fills stream. Each scenario first asserts the fault fired (how many logs the proxy hid), then the alert,
and prints the worst delay from a fill's transaction to its record in the ledger; the common settle and
tally then prove 0 lost, 0 duplicated, books == model.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import AsyncIterator

import aiohttp

from tests.chain_support.proxy import RpcProxy
from tests.chaos.rig import Rig

LAG = 6
"""Blocks the proxy's log index lags by: more than the 3 confirmations of the second scenario."""
BLOCK_EVERY_S = 0.25
"""A block this often besides the fills' own (the chain keeps moving while the stock market sleeps)."""


async def _reconfigure(rig: Rig, proxy: RpcProxy, confirmations: int) -> None:
    """Restart the bot pointed at the proxy over HTTP only, with ``confirmations``."""
    rig.bot.signal(signal.SIGTERM)
    await rig.bot.wait_exit(30)
    text = rig.bot.config.read_text()
    text = re.sub(r'(?m)^http_url = ".*"$', f'http_url = "{proxy.http_url}"', text)
    text = re.sub(r"(?m)^ws_url = .*$", "", text)
    text = text.replace("[chain]\n", f"[chain]\nconfirmations = {confirmations}\n", 1)
    rig.bot.config.write_text(text)
    await rig.bot.start()
    await rig.bot.wait_healthy()


@contextlib.asynccontextmanager
async def _blocks_keep_coming(rig: Rig) -> AsyncIterator[None]:
    stop = asyncio.Event()

    def mine() -> None:
        with rig.chain_lock:
            rig.chain.driver.mine()

    async def tick() -> None:
        while not stop.is_set():
            await asyncio.to_thread(mine)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BLOCK_EVERY_S)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        stop.set()
        await task


async def _metric(rig: Rig, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{rig.bot.api_url}/metrics") as answer:
        text = await answer.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


class _Delays:
    """Seconds from each fill's transaction to its first sighting in the ledger (polled every 50 ms)."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.sent_at: dict[str, float] = {}
        self.seen_after: dict[str, float] = {}
        rig.emitter.sent_listeners.append(self._sent)

    def _sent(self) -> None:
        now = time.monotonic()
        for fill in self.rig.emitter.emitted:
            self.sent_at.setdefault(fill.trade_id, now)

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set() or len(self.seen_after) < len(self.sent_at):
            live = await asyncio.to_thread(self.rig.view.live_counts)
            now = time.monotonic()
            for trade_id, sent in list(self.sent_at.items()):
                if trade_id not in self.seen_after and live[trade_id] > 0:
                    self.seen_after[trade_id] = now - sent
            if stop.is_set() and time.monotonic() - max(self.sent_at.values(), default=0) > 120:
                return  # the settle that follows reports what is still missing
            await asyncio.sleep(0.05)

    @property
    def worst(self) -> float:
        return max(self.seen_after.values(), default=0.0)


async def lagging_log_index(rig: Rig, fills: int, fault_s: float, *, confirmations: int, receipts: str | None) -> None:
    proxy = RpcProxy(rig.chain.node.http_url, rig.chain.node.ws_url, hidden_address=rig.chain.deployment.orderbook)
    await proxy.start()
    try:
        await _reconfigure(rig, proxy, confirmations)
        delays = _Delays(rig)
        done = asyncio.Event()
        watcher = asyncio.create_task(delays.watch(done))
        try:
            async with _blocks_keep_coming(rig):
                proxy.index_lag = LAG
                proxy.receipts_fault = receipts
                stream = rig.stream(fills, fault_s)
                try:
                    await stream.wait()
                finally:
                    await stream.cancel()
                proxy.index_lag = None  # the node behaves again
                proxy.receipts_fault = None
                await asyncio.sleep(2.0)  # a few blocks more: confirmations reach the last fills
        finally:
            done.set()
            await watcher
        counters = proxy.counters
        if counters.hidden_logs == 0:
            raise AssertionError("the proxy hid no log: the scenario proved nothing")
        if receipts == "strip" and counters.stripped_receipt_logs == 0:
            raise AssertionError("no receipt came without its logs: the scenario proved nothing")
        found = await _metric(rig, "arbtui_intake_inconsistent_logs_total")
        if found == 0:
            raise AssertionError("no node inconsistency was counted in /metrics (the alert never fired)")
        if "intake:inconsistent_logs" not in rig.bot.log_text():
            raise AssertionError("no intake:inconsistent_logs alert in the bot's log")
        rig.notes.append(
            f"hidden_logs={counters.hidden_logs} stripped_receipt_logs={counters.stripped_receipt_logs}"
            f" inconsistent_logs_counted={found:.0f} worst_recorded_after_s={delays.worst:.2f}"
            f" fills_timed={len(delays.seen_after)}"
        )
    finally:
        await proxy.stop()
