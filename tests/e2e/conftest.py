"""Fixtures of the end-to-end tests: each test gets its own anvil (contracts deployed), its own local
Alpaca server on loopback, and a (not yet started) bot process wired to both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from arbtui.demo.artifacts import Artifact, load_artifacts
from arbtui.demo.deploy import deploy_all
from tests.e2e.harness import Bot, Chain, CountingAlpacaServer, allocate_port, start_chain, write_config


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Artifact]:
    return load_artifacts()


@pytest.fixture
def chain(artifacts: dict[str, Artifact]) -> Iterator[Chain]:
    started = start_chain(artifacts, deploy_all)
    try:
        yield started
    finally:
        started.node.stop()


@pytest.fixture
async def alpaca() -> AsyncIterator[CountingAlpacaServer]:
    server = CountingAlpacaServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(tmp_path: Path, chain: Chain, alpaca: CountingAlpacaServer) -> AsyncIterator[Bot]:
    """The bot, configured for this test's chain and broker (fast intervals); the test starts it."""
    port = allocate_port()
    db = tmp_path / "ledger.db"
    config = write_config(tmp_path / "arbtui.toml", chain=chain, alpaca_url=alpaca.url, api_port=port, db=db)
    process = Bot(config=config, db=db, api_port=port, logs=tmp_path / "logs")
    try:
        yield process
    finally:
        await process.stop()
