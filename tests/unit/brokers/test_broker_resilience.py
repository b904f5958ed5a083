"""Rate limit, retries, Retry-After and redaction — driven by a fake clock, never sleeping."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtui.brokers.base import BrokerUnavailable, MarketClock, MarketClosed, MarketOrder, OrderRejected, RateLimited
from arbtui.brokers.resilience import (
    MarketGate,
    Resilience,
    RetryPolicy,
    TokenBucket,
    parse_retry_after,
    redact_headers,
    redact_text,
    redact_url,
)
from arbtui.domain.values import BrokerKind, Direction, ExecutionId, Shares, Symbol
from tests.fakes.clock import FakeClock


def make(policy: RetryPolicy | None = None, rate: int = 6000) -> tuple[Resilience, FakeClock]:
    clock = FakeClock()
    return Resilience(
        name="t", policy=policy or RetryPolicy(), clock=clock, requests_per_minute=rate, rng=random.Random(7)
    ), clock


async def test_token_bucket_spaces_requests_beyond_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, clock, burst=2)
    waits = [await bucket.acquire() for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == pytest.approx([0.5, 0.5, 0.5])
    assert clock.monotonic() - 1000.0 == pytest.approx(1.5)


async def test_token_bucket_default_burst_is_a_tenth_of_a_minute() -> None:
    assert TokenBucket(200, FakeClock()).capacity == 33
    assert TokenBucket(120, FakeClock()).capacity == 20


async def test_429_waits_retry_after_then_succeeds() -> None:
    resilience, clock = make()
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RateLimited("429", retry_after=4.0)
        return "ok"

    assert await resilience.call("x", flaky) == "ok"
    assert clock.sleeps == [4.0, 4.0]


async def test_429_without_hint_uses_default_and_huge_hint_is_clamped() -> None:
    resilience, clock = make(RetryPolicy(default_retry_after=1.5, max_retry_after=10))
    hints = iter([None, 9999.0])

    async def flaky() -> str:
        hint = next(hints, "done")
        if hint == "done":
            return "ok"
        raise RateLimited("429", retry_after=hint)  # type: ignore[arg-type]

    assert await resilience.call("x", flaky) == "ok"
    assert clock.sleeps == [1.5, 10.0]


async def test_5xx_backs_off_with_bounded_jitter_then_raises_with_attempts() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=0.1, max_delay=0.3)
    resilience, clock = make(policy)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise BrokerUnavailable("503")

    with pytest.raises(BrokerUnavailable) as caught:
        await resilience.call("x", down)
    assert calls == 5
    assert caught.value.attempts == 5
    assert len(clock.sleeps) == 4
    for attempt, delay in enumerate(clock.sleeps, start=1):
        assert 0 <= delay <= min(0.3, 0.1 * 2 ** (attempt - 1))


async def test_other_errors_are_not_retried() -> None:
    resilience, clock = make()
    calls = 0

    async def rejected() -> None:
        nonlocal calls
        calls += 1
        raise OrderRejected("no")

    with pytest.raises(OrderRejected):
        await resilience.call("x", rejected)
    assert calls == 1
    assert clock.sleeps == []


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=2**31))
def test_backoff_never_exceeds_its_ceiling(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.25, max_delay=8.0)
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0 <= delay <= min(8.0, 0.25 * 2 ** (attempt - 1))


def test_retry_after_forms() -> None:
    now = datetime(2025, 3, 4, 15, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 0.5 ", now) == 0.5
    assert parse_retry_after("Tue, 04 Mar 2025 15:00:30 GMT", now) == 30.0
    assert parse_retry_after("Tue, 04 Mar 2025 14:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_urls_lose_codes_and_tokens() -> None:
    url = "https://127.0.0.1/?code=C0.abc%40&session=s3cr3t&state=xyz"
    assert redact_url(url) == "https://127.0.0.1/?code=***&session=***&state=xyz"
    assert redact_url("https://h/p?refresh_token=rt-9&x=1") == "https://h/p?refresh_token=***&x=1"


def test_headers_and_text_are_redacted() -> None:
    headers = {"Authorization": "Bearer abc", "APCA-API-SECRET-KEY": "s", "Accept": "application/json"}
    assert redact_headers(headers) == {
        "Authorization": "***",
        "APCA-API-SECRET-KEY": "***",
        "Accept": "application/json",
    }
    text = 'sent Bearer eyJhbGciOi.x.y and got {"access_token": "at-123", "refresh_token":"rt-9"}'
    cleaned = redact_text(text)
    for secret in ("eyJhbGciOi", "at-123", "rt-9"):
        assert secret not in cleaned


async def test_market_gate_never_reuses_open_past_the_announced_close_when_the_clock_jumps() -> None:
    """An "open" answer is reused within its age — but not once the wall clock is past its close, even
    if no monotonic time passed (a test walking a week, a resumed VM)."""
    clock = FakeClock(datetime(2026, 12, 4, 20, 0, tzinfo=UTC))  # Friday 15:00 New York
    gate = MarketGate(clock, max_age_s=30.0)
    close = clock.now() + timedelta(hours=1)
    gate.remember(MarketClock(as_of=clock.now(), is_open=True, next_open=None, next_close=close))
    asked: list[datetime] = []

    async def ask() -> MarketClock:
        asked.append(clock.now())
        return MarketClock(as_of=clock.now(), is_open=False, next_open=None, next_close=None)

    order = MarketOrder(ExecutionId("00000000-0000-4000-8000-000000000001"), Symbol("AAPL"), Direction.BUY, Shares(1))
    await gate.ensure_open(ask, order, BrokerKind.ALPACA)
    assert asked == []  # fresh and before the close: reused
    clock.set_now(close + timedelta(minutes=1))
    with pytest.raises(MarketClosed):
        await gate.ensure_open(ask, order, BrokerKind.ALPACA)
    assert asked == [close + timedelta(minutes=1)]
