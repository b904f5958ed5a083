"""Fixtures for the reporting tests, reused from the store, chain and broker tests: a real SQLite
ledger per test, one anvil per session with the contracts deployed (each test between snapshot and
revert), and the local Alpaca server."""

from tests.integration.brokers.conftest import alpaca_factory, alpaca_server, fake_clock
from tests.integration.chain.conftest import anvil, artifacts, chain, deployment
from tests.integration.store.conftest import db_path, ledger, pending_execution, rows, settle

__all__ = [
    "alpaca_factory",
    "alpaca_server",
    "anvil",
    "artifacts",
    "chain",
    "db_path",
    "deployment",
    "fake_clock",
    "ledger",
    "pending_execution",
    "rows",
    "settle",
]
