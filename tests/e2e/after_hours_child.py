"""The engine alone in a process, for the after-hours kill -9 tests: the dry-run of nothing — it hedges
on the local Alpaca server at ``--alpaca`` with the ``extended`` policy, its clock frozen at ``--at``
(the server in the test process answers for the same instant), until it is killed.

    python -m tests.e2e.after_hours_child --db PATH --alpaca URL --at ISO-8601
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime

from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.resilience import RetryPolicy
from arbtui.domain.hedging_policy import SessionChoice
from arbtui.engine.lifecycle import Engine
from arbtui.store.ledger import Ledger
from tests.e2e.harness import API_KEY, API_SECRET
from tests.integration.engine.after_hours_support import options, policy


class FrozenClock:
    """Now is ``at``; sleeps pass briefly in real time (every wait re-checks against the same instant)."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(max(seconds, 0.0), 0.01))


async def run(db: str, url: str, at: datetime) -> None:
    clock = FrozenClock(at)
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, request_timeout=2.0)
    config = AlpacaConfig(api_key=SecretStr(API_KEY), api_secret=SecretStr(API_SECRET), base_url=url, retry=retry)
    broker = AlpacaBroker(config, clock=clock)
    engine = Engine(await Ledger.open(db, broker.kind, clock=clock), broker, options(policy(SessionChoice.EXTENDED)))
    await engine.start()
    print("started", flush=True)
    await engine.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--alpaca", required=True)
    parser.add_argument("--at", required=True, type=datetime.fromisoformat)
    args = parser.parse_args()
    asyncio.run(run(args.db, args.alpaca, args.at))


if __name__ == "__main__":
    main()
