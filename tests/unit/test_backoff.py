"""The one Backoff (brokers, executions, intake restarts): growth, cap, jitter bounds, reset — no I/O,
a fake clock's sleep and a seeded random."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtui.brokers.resilience import RetryPolicy
from arbtui.chain.decode import DecodeConfig
from arbtui.chain.intake import IntakeConfig, restart_backoff
from arbtui.clock import Backoff, Jitter
from tests.fakes.clock import FakeClock

DECODE = DecodeConfig(orderbook="0x" + "11" * 20, owner="0x" + "22" * 20, usdc="0x" + "33" * 20)


def test_ceiling_doubles_from_initial_then_stays_at_the_cap() -> None:
    backoff = Backoff(0.25, 3.0, jitter=Jitter.NONE)
    assert [backoff.ceiling(n) for n in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff.ceiling(0) == 0.25  # "no failure yet" waits like the first


def test_growth_other_than_two() -> None:
    backoff = Backoff(1.0, 100.0, growth=3.0, jitter=Jitter.NONE)
    assert [backoff.ceiling(n) for n in range(1, 6)] == [1.0, 3.0, 9.0, 27.0, 81.0]
    assert Backoff(1.5, 9.0, growth=1.0, jitter=Jitter.NONE).ceiling(50) == 1.5


def test_the_cap_holds_after_any_number_of_failures() -> None:
    """Thousands of failures (a long outage) saturate at the cap instead of overflowing a float."""
    backoff = Backoff(0.5, 30.0, jitter=Jitter.EQUAL, rng=random.Random(1))
    assert backoff.ceiling(5000) == 30.0
    assert 15.0 <= backoff.delay(5000) <= 30.0
    assert Backoff(0.0, 30.0).ceiling(5000) == 0.0


@given(
    st.integers(min_value=0, max_value=3000),
    st.integers(min_value=0, max_value=2**32),
    st.floats(min_value=0.0, max_value=10.0),
    st.floats(min_value=0.0, max_value=120.0),
)
def test_jitter_stays_within_its_bounds(failure: int, seed: int, initial: float, maximum: float) -> None:
    full = Backoff(initial, maximum, jitter=Jitter.FULL, rng=random.Random(seed))
    equal = Backoff(initial, maximum, jitter=Jitter.EQUAL, rng=random.Random(seed))
    none = Backoff(initial, maximum, jitter=Jitter.NONE, rng=random.Random(seed))
    ceiling = full.ceiling(failure)
    assert ceiling <= maximum
    assert 0.0 <= full.delay(failure) <= ceiling
    assert ceiling / 2 <= equal.delay(failure) <= ceiling
    assert none.delay(failure) == ceiling


def test_jitter_actually_spreads_the_delays() -> None:
    backoff = Backoff(8.0, 8.0, jitter=Jitter.FULL, rng=random.Random(3))
    draws = {backoff.delay(1) for _ in range(50)}
    assert len(draws) == 50
    assert min(draws) < 2.0 < 6.0 < max(draws)


async def test_wait_counts_sleeps_on_the_clock_and_reset_starts_again() -> None:
    clock = FakeClock()
    backoff = Backoff(0.1, 0.4, jitter=Jitter.NONE, sleep=clock.sleep)
    assert backoff.failures == 0
    waited = [await backoff.wait() for _ in range(4)]
    assert waited == clock.sleeps == [0.1, 0.2, 0.4, 0.4]
    assert backoff.failures == 4
    backoff.reset()
    assert backoff.failures == 0
    assert await backoff.wait() == 0.1
    assert backoff.next_delay() == 0.2  # counts without sleeping
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.4, 0.1]


async def test_the_same_seed_gives_the_same_delays() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(0.5, 30.0, jitter=Jitter.EQUAL, rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(12)]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Backoff(-1.0, 1.0)
    with pytest.raises(ValueError, match="negative"):
        Backoff(1.0, -1.0)
    with pytest.raises(ValueError, match="growth"):
        Backoff(1.0, 2.0, growth=0.5)


@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=2**32))
def test_the_brokers_retry_policy_draws_exactly_what_it_drew_before(attempt: int, seed: int) -> None:
    """Full jitter under ``min(max_delay, base_delay * 2 ** (attempt - 1))``, same random draw."""
    policy = RetryPolicy(base_delay=0.25, max_delay=8.0)
    before = random.Random(seed).uniform(0, min(8.0, 0.25 * (2 ** (attempt - 1))))
    assert policy.backoff(attempt, random.Random(seed)) == before


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=2**32))
def test_the_executions_backoff_draws_exactly_what_it_drew_before(attempt: int, seed: int) -> None:
    """Equal jitter under ``min(30, 0.5 * 2 ** max(0, attempt - 1))`` (the ExecutionOptions defaults)."""
    ceiling = min(30.0, 0.5 * 2 ** max(0, attempt - 1))
    before = random.Random(seed).uniform(ceiling / 2, ceiling)
    assert Backoff(0.5, 30.0, jitter=Jitter.EQUAL, rng=random.Random(seed)).delay(attempt) == before


def test_the_intake_restart_waits_double_to_the_cap_with_equal_jitter() -> None:
    """Doubling from ``reconnect_initial``, capped at ``reconnect_max`` (the IntakeConfig defaults), each
    wait drawn in [ceiling / 2, ceiling]."""
    config = IntakeConfig(http_url="http://127.0.0.1:8545", decode=DECODE, deployment_block=0)
    backoff = restart_backoff(config)
    ceilings, ceiling = [], 0.25
    for _ in range(12):
        ceilings.append(ceiling)
        ceiling = min(ceiling * 2, 30.0)
    waits = [backoff.next_delay() for _ in range(12)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert backoff.jitter is Jitter.EQUAL
