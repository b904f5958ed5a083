"""``arbtui run --headless``: the engine, the HTTP service and signal handling in one process.

SIGTERM/SIGINT: stop intake, let broker calls in flight finish (``engine.shutdown_timeout_s``), commit,
exit 0. A second signal exits at once (state is in the ledger; the next start recovers). A fault the
engine cannot contain exits non-zero.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from loguru import logger
from pydantic import SecretStr

from arbtui.api.http import build_app, serve
from arbtui.clock import SystemClock
from arbtui.config import Settings
from arbtui.domain.ids import RandomIds
from arbtui.engine.factory import build_engine

EXIT_FAULT = 1
EXIT_FORCED = 130


def configure_logging(*, json_lines: bool) -> None:
    """Human-readable on a terminal, JSON lines when headless (every line keeps its bound context)."""
    logger.remove()
    if json_lines:
        logger.add(sys.stderr, level="INFO", serialize=True)
    else:
        logger.add(sys.stderr, level="INFO", format="{time:HH:mm:ss} {level: <7} {message} {extra}")


@dataclass(frozen=True)
class ServiceOptions:
    """What the HTTP service takes from the settings."""

    host: str
    port: int
    control_token: SecretStr | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceOptions:
        return cls(settings.api.host, settings.api.port, settings.control_token)


async def run_headless(settings: Settings, *, db: Path | None = None) -> int:
    service = ServiceOptions.from_settings(settings)
    engine = await build_engine(settings, clock=SystemClock(), ids=RandomIds(), db=db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(number: int) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            logger.warning("second signal: exiting now; the next start recovers from the ledger")
            os._exit(EXIT_FORCED)
        logger.info("signal {}: shutting down gracefully", signal.Signals(number).name)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal, number)
    app = build_app(engine.control, engine.health, engine.metrics.registry, control_token=service.control_token)
    await engine.start()
    async with serve(app, service.host, service.port) as address:
        logger.info("arbtui running: {} broker, API at {}", engine.broker.kind.value, address.url)
        waiting = [asyncio.create_task(stop.wait()), asyncio.create_task(engine.wait())]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in waiting:
            task.cancel()
        clean = await engine.stop()
    await engine.ledger.close()
    if engine.fault is not None:
        logger.critical("stopped by a fault: {!r}", engine.fault)
        return EXIT_FAULT
    logger.info("stopped{}", "" if clean else " (some broker calls were cut short; they resume at the next start)")
    return 0
