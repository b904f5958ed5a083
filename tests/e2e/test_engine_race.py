"""A race found by ``bench/engine.py``: fills committed one per transaction while hedges complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.engine import engine_fills


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_engine_survives_a_stream_of_single_fill_commits(tmp_path: Path) -> None:
    """Proves (once fixed) that 5 × 3,000 fills across five symbols, each committed on its own while the
    engine hedges them on the dry-run broker, never halt the engine."""
    for seed in range(5):
        _, hedges, _, fault = await engine_fills(tmp_path / f"run{seed}.db", 3000, 1, seed=11 + seed)
        assert fault is None, f"seed {11 + seed}: engine halted after {hedges} hedges: {fault}"
