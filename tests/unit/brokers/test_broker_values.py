"""The port's values, the token cipher and the dry-run broker (no network)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbtui.brokers.base import (
    AmbiguousSubmission,
    BrokerError,
    BrokerUnavailable,
    FatalBrokerError,
    MarketClosed,
    MarketOrder,
    OrderRefused,
    OrderRejected,
    RateLimited,
    RetryableBrokerError,
)
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.brokers.schwab.crypto import MalformedEncryptionKey, TokenCipher, TokenKind, TokenSlot, WrongEncryptionKey
from arbtui.domain.values import BrokerKind, Direction, ExecutionId, PriceUsdc, Shares, Symbol, Usdc

KEY = "ab" * 32
SLOT = TokenSlot("schwab", TokenKind.ACCESS)


def execution() -> ExecutionId:
    return ExecutionId(str(uuid.uuid4()))


def test_error_tree_splits_retryable_rejected_fatal() -> None:
    assert issubclass(RateLimited, RetryableBrokerError)
    assert issubclass(BrokerUnavailable, RetryableBrokerError)
    assert issubclass(MarketClosed, RetryableBrokerError)
    assert issubclass(OrderRefused, OrderRejected)
    assert issubclass(AmbiguousSubmission, FatalBrokerError)
    for branch in (RetryableBrokerError, OrderRejected, FatalBrokerError):
        assert issubclass(branch, BrokerError)
    assert not issubclass(OrderRejected, RetryableBrokerError | FatalBrokerError)


def test_error_message_carries_context() -> None:
    error = OrderRejected("no", broker=BrokerKind.ALPACA, symbol=Symbol("AAPL"), status_code=403)
    assert str(error) == "no (broker=alpaca, symbol=AAPL, http=403)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"quantity": Shares("1"), "notional": Usdc("5")},
        {"quantity": Shares("0")},
        {"quantity": Shares("-1")},
        {"notional": Usdc("0")},
        {"quantity": Shares("1"), "estimated_price": PriceUsdc("0")},
    ],
)
def test_market_order_refuses_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 — several distinct messages
        MarketOrder(execution(), Symbol("AAPL"), Direction.BUY, **kwargs)  # type: ignore[arg-type]


def test_estimated_notional() -> None:
    order = MarketOrder(execution(), Symbol("AAPL"), Direction.BUY, Shares("0.37"), estimated_price=PriceUsdc("2.5"))
    assert order.estimated_notional() == Usdc("0.925")


def test_cipher_round_trip_with_fresh_nonces() -> None:
    cipher = TokenCipher.from_hex(KEY)
    a, b = cipher.encrypt("secret-token", SLOT), cipher.encrypt("secret-token", SLOT)
    assert a != b
    assert "secret-token" not in a
    assert cipher.decrypt(a, SLOT) == cipher.decrypt(b, SLOT) == "secret-token"


@settings(max_examples=50)
@given(st.text(max_size=300))
def test_cipher_round_trips_any_text(text: str) -> None:
    cipher = TokenCipher.from_hex(KEY)
    assert cipher.decrypt(cipher.encrypt(text, SLOT), SLOT) == text


def test_wrong_key_and_tampering_are_detected() -> None:
    sealed = TokenCipher.from_hex(KEY).encrypt("secret-token", SLOT)
    with pytest.raises(WrongEncryptionKey, match="not the key"):
        TokenCipher.from_hex("cd" * 32).decrypt(sealed, SLOT)
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(WrongEncryptionKey):
        TokenCipher.from_hex(KEY).decrypt(flipped, SLOT)
    with pytest.raises(WrongEncryptionKey, match="format"):
        TokenCipher.from_hex(KEY).decrypt("plaintext", SLOT)


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 32, "ab" * 31, "ab" * 33])
def test_malformed_keys_are_refused(bad: str) -> None:
    with pytest.raises(MalformedEncryptionKey, match="64 hex"):
        TokenCipher.from_hex(bad)


def test_key_from_environment() -> None:
    with pytest.raises(MalformedEncryptionKey, match="not set"):
        TokenCipher.from_env({})
    cipher = TokenCipher.from_env({"ARBTUI_ENCRYPTION_KEY": TokenCipher.generate_key_hex()})
    assert "key" in repr(cipher)
    assert cipher.decrypt(cipher.encrypt("x", SLOT), SLOT) == "x"


async def test_dry_run_converts_notional_and_tracks_cash() -> None:
    broker = DryRunBroker()
    order = MarketOrder(
        execution(), Symbol("AAPL"), Direction.BUY, notional=Usdc("100"), estimated_price=PriceUsdc("3")
    )
    report = await broker.order_status(await broker.submit(order))
    assert report.filled_quantity == Shares("33.333333333")
    assert report.filled_notional == Usdc("99.999999999")
    assert (await broker.balances()).cash == Usdc("100000") - Usdc("99.999999999")
    assert report.filled_at == report.submitted_at
    assert report.submitted_at is not None
    assert report.submitted_at <= datetime.now(UTC)


async def test_dry_run_without_any_price_refuses() -> None:
    with pytest.raises(OrderRefused, match="no price"):
        await DryRunBroker().submit(MarketOrder(execution(), Symbol("MSFT"), Direction.BUY, Shares("1")))


async def test_dry_run_reuses_the_last_fill_price() -> None:
    broker = DryRunBroker()
    await broker.submit(
        MarketOrder(execution(), Symbol("MSFT"), Direction.BUY, Shares("1"), estimated_price=PriceUsdc("400"))
    )
    order_id = await broker.submit(MarketOrder(execution(), Symbol("MSFT"), Direction.SELL, Shares("1")))
    report = await broker.order_status(order_id)
    assert report.average_price is not None
    assert report.average_price.to_price() == PriceUsdc("400")
    assert await broker.positions() == ()
