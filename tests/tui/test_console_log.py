"""`arbtui run` with the console: log lines go to a file beside the ledger, never to the terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from arbtui.tui.commands import log_beside


@pytest.fixture
def loguru_restored() -> Iterator[None]:
    yield
    logger.remove()
    logger.add(sys.stderr)


@pytest.mark.usefixtures("loguru_restored")
def test_the_console_logs_beside_the_ledger_and_not_on_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = log_beside(tmp_path / "ledger.db")
    logger.bind(symbol="AAPL").warning("broker unavailable (attempt 1)")
    assert path == tmp_path / "ledger.db.log"
    assert "WARNING broker unavailable (attempt 1)" in path.read_text()
    assert capfd.readouterr().err == ""
