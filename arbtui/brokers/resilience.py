"""What every adapter shares on the wire: clock, client-side rate limit, retries, redacted logging.

- **429 is "reschedule", never a failure** (lesson 21): the call waits ``Retry-After`` (clamped to
  :attr:`RetryPolicy.max_retry_after`) and tries again, up to :attr:`RetryPolicy.max_rate_limit_waits`
  times inside one call; beyond that it raises :class:`~arbtui.brokers.base.RateLimited` so the engine
  reschedules the whole step instead of a worker idling silently.
- **5xx, timeouts, dropped connections**: exponential backoff with full jitter, at most
  :attr:`RetryPolicy.max_attempts` attempts, then :class:`~arbtui.brokers.base.BrokerUnavailable`
  carrying the attempt count.
- **Token bucket** per adapter, defaults from the brokers' published limits (Alpaca 200/min, Schwab
  120/min), so we slow ourselves down before the broker has to.
- **Clock and sleep are injected** (:class:`~arbtui.clock.Clock`, re-exported here): tests drive backoff
  without sleeping; the backoff is the project's one :class:`~arbtui.clock.Backoff`.
- **Logging** through loguru with secrets redacted: credential headers, bearer tokens, API keys and the
  OAuth ``code=`` / token parameters in URLs never reach a log line.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar

from loguru import logger

from arbtui.brokers.base import (
    BrokerUnavailable,
    LimitOrder,
    MarketClock,
    MarketClosed,
    MarketOrder,
    OrderRefused,
    RateLimited,
)
from arbtui.clock import Backoff, Clock, Jitter, Sleep
from arbtui.domain.sessions import NEW_YORK, MarketSession, OutsideCalendar, TradingCalendar
from arbtui.domain.values import BrokerKind

T = TypeVar("T")

ALPACA_REQUESTS_PER_MINUTE = 200
SCHWAB_REQUESTS_PER_MINUTE = 120


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one adapter call tries before it hands a typed error to the engine."""

    max_attempts: int = 4
    """Attempts on 5xx/timeouts/dropped connections (first try included)."""
    base_delay: float = 0.25
    """Backoff before the second attempt, doubled each time (full jitter: uniform in [0, delay])."""
    max_delay: float = 8.0
    max_rate_limit_waits: int = 20
    """429s honoured inside one call; one more raises RateLimited for the engine to reschedule."""
    default_retry_after: float = 1.0
    """Wait after a 429 that carried no usable Retry-After."""
    max_retry_after: float = 60.0
    """Clamp on a broker-sent Retry-After (a bogus "retry in a day" must not idle a worker)."""
    request_timeout: float = 10.0
    """Our own per-request timeout (alpaca-py sets none)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.request_timeout <= 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("timeouts and delays must be positive")

    def backoff_for(self, rng: random.Random, sleep: Sleep | None = None) -> Backoff:
        """The backoff of one call: doubling from ``base_delay``, capped at ``max_delay``, full jitter."""
        return Backoff(self.base_delay, self.max_delay, jitter=Jitter.FULL, sleep=sleep, rng=rng)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay after failed attempt number ``attempt`` (1-based): full jitter, capped."""
        return self.backoff_for(rng).delay(attempt)

    def clamp_retry_after(self, retry_after: float | None) -> float:
        if retry_after is None or retry_after < 0:
            return self.default_retry_after
        return min(retry_after, self.max_retry_after)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class TokenBucket:
    """Client-side rate limit: ``rate_per_minute`` sustained, bursts up to ``burst`` requests."""

    def __init__(self, rate_per_minute: int, clock: Clock, *, burst: int | None = None) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate_per_minute / 60.0
        self._capacity = float(burst if burst is not None else max(1, rate_per_minute // 6))
        self._tokens = self._capacity
        self._clock = clock
        self._stamp = clock.monotonic()
        self._lock = asyncio.Lock()

    @property
    def capacity(self) -> float:
        return self._capacity

    async def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                delay = (1.0 - self._tokens) / self._rate
                waited += delay
                await self._clock.sleep(delay)


class Resilience:
    """One per adapter: its rate limiter, retry policy, clock and jitter source."""

    def __init__(
        self,
        *,
        name: str,
        policy: RetryPolicy,
        clock: Clock,
        requests_per_minute: int,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self.limiter = TokenBucket(requests_per_minute, clock)
        self._rng = rng or random.Random()
        self.rate_limited_waits = 0
        """429s honoured so far (all calls); exposed for metrics and tests."""
        self.retries = 0
        """Retries after 5xx/timeouts so far (all calls)."""

    async def call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` under the rate limit; 429 → wait and retry; 5xx/timeouts → backoff.

        ``operation`` signals a 429 by raising :class:`RateLimited` and a transient failure by raising
        :class:`BrokerUnavailable`; any other error passes straight through.
        """
        backoff = self.policy.backoff_for(self._rng, self.clock.sleep)
        waits = 0
        while True:
            await self.limiter.acquire()
            try:
                return await operation()
            except RateLimited as exc:
                waits += 1
                if waits > self.policy.max_rate_limit_waits:
                    logger.warning("{} {}: still rate limited after {} waits", self.name, what, waits - 1)
                    raise
                delay = self.policy.clamp_retry_after(exc.retry_after)
                self.rate_limited_waits += 1
                logger.info("{} {}: 429, rescheduled in {:.3f}s", self.name, what, delay)
                await self.clock.sleep(delay)
            except BrokerUnavailable as exc:
                attempts = backoff.failures + 1
                if attempts >= self.policy.max_attempts:
                    logger.warning("{} {}: giving up after {} attempts: {}", self.name, what, attempts, exc)
                    exc.attempts = attempts
                    raise
                delay = backoff.next_delay()
                self.retries += 1
                logger.info("{} {}: {} — retry {} in {:.3f}s", self.name, what, exc, attempts, delay)
                await self.clock.sleep(delay)


# ------------------------------------------------------------------------------------------------
# redaction
# ------------------------------------------------------------------------------------------------
REDACTED = "***"
_SECRET_HEADERS = frozenset(
    {"authorization", "apca-api-key-id", "apca-api-secret-key", "cookie", "set-cookie", "proxy-authorization"}
)
_SECRET_PARAMS = (
    "code",
    "session",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_id",
    "token",
    "apikey",
    "api_key",
)
_PARAM_RE = re.compile(r"(?i)([?&#](?:" + "|".join(_SECRET_PARAMS) + r")=)[^&#\s]*")
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=@%-]+")
_JSON_TOKEN_RE = re.compile(r'(?i)("(?:access_token|refresh_token|id_token|code)"\s*:\s*")[^"]*(")')


def redact_url(url: str) -> str:
    """Mask credential-bearing query parameters (``code=``, tokens, keys) in a URL."""
    return _PARAM_RE.sub(lambda m: m.group(1) + REDACTED, url)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with every credential header masked."""
    return {k: (REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def redact_text(text: str) -> str:
    """Mask bearer/basic credentials, URL token parameters and JSON token fields in free text."""
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JSON_TOKEN_RE.sub(lambda m: m.group(1) + REDACTED + m.group(2), text)
    return redact_url(text)


def log_exchange(
    venue: str, method: str, url: str, status: int | None, elapsed: float, error: str | None = None
) -> None:
    """One log line per request/response, URL redacted (headers and bodies are never logged)."""
    if error is not None:
        logger.warning(
            "{} {} {} failed after {:.1f}ms: {}",
            venue,
            method,
            redact_url(url),
            elapsed * 1000,
            redact_text(error),
        )
    else:
        logger.debug("{} {} {} → {} in {:.1f}ms", venue, method, redact_url(url), status, elapsed * 1000)


class MarketGate:
    """Refuses an order while the market is shut, asking the broker's clock as seldom as is safe: an
    "open" answer is reused for ``max_age_s`` and never past the close it announced."""

    def __init__(self, clock: Clock, max_age_s: float) -> None:
        self._clock = clock
        self._max_age_s = max_age_s
        self._last: tuple[float, MarketClock] | None = None

    def remember(self, market: MarketClock) -> None:
        """Every fresh clock answer passes through here."""
        self._last = (self._clock.monotonic(), market)

    async def ensure_open(
        self, ask: Callable[[], Awaitable[MarketClock]], order: MarketOrder, broker: BrokerKind
    ) -> None:
        """Return when the market is open; else raise :class:`MarketClosed` (nothing is sent)."""
        if self._last is not None and self._last[1].is_open:
            age = self._clock.monotonic() - self._last[0]
            closes = self._last[1].next_close
            # Before the announced close by the answer's own time plus its age, and by the wall clock
            # now (a clock that jumped — a test walking a week, a resumed VM — must not reuse "open").
            before_close = closes is None or (
                self._last[1].as_of + timedelta(seconds=age) < closes and self._clock.now() < closes
            )
            if age <= self._max_age_s and before_close:
                return
        market = await ask()
        if not market.is_open:
            raise MarketClosed(
                "market closed: order not sent",
                retry_at=market.next_open,
                broker=broker,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )


CalendarReader = Callable[[date, date], Awaitable[TradingCalendar]]
_GATE_LOOKAHEAD = timedelta(days=7)


class SessionGate:
    """Refuses a limit order whose session is not trading now, from the broker's own calendar (read
    again when older than ``max_age_s`` or when it no longer covers now), so nothing is sent for a
    session that is shut: :class:`MarketClosed` with ``retry_at`` = when that session next starts, or
    :class:`OrderRefused` for a session this venue never trades (overnight where the calendar has none)."""

    def __init__(self, clock: Clock, max_age_s: float) -> None:
        self._clock = clock
        self._max_age = timedelta(seconds=max_age_s)
        self._cached: tuple[datetime, TradingCalendar] | None = None

    async def ensure(self, read: CalendarReader, order: LimitOrder, broker: BrokerKind) -> None:
        now = self._clock.now()
        calendar = await self._calendar(read, now)
        if order.session is MarketSession.OVERNIGHT and not calendar.overnight:
            raise OrderRefused(
                f"{broker} has no overnight session: order not sent",
                broker=broker,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        try:
            current = calendar.session_at(now).session
        except OutsideCalendar:
            current = MarketSession.CLOSED
        if current is order.session:
            return
        retry_at = next((s.start for s in calendar.spans if s.session is order.session and s.start > now), None)
        raise MarketClosed(
            f"{order.session.label} session not trading now ({current.label}): order not sent",
            retry_at=retry_at,
            broker=broker,
            symbol=order.symbol,
            execution_id=order.execution_id,
        )

    async def _calendar(self, read: CalendarReader, now: datetime) -> TradingCalendar:
        if self._cached is not None:
            read_at, calendar = self._cached
            if read_at <= now < read_at + self._max_age and calendar.covers(now):
                return calendar
        today = now.astimezone(NEW_YORK).date()
        calendar = await read(today - timedelta(days=1), today + _GATE_LOOKAHEAD)
        self._cached = (now, calendar)
        return calendar
