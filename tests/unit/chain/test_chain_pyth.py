"""Pure Pyth trace reading: which frames count and how a price is decoded."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode

from arbtui.chain.pyth import (
    PythFailure,
    PythTrace,
    PythTraceError,
    choose_price,
    find_pyth_calls,
    format_pyth_prices,
)
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.values import Symbol

PYTH = "0x8250f4af4b972684f7b336503e2d6dfedeb1487a"
IMPL = "0x00000000000000000000000000000000000c0de0"
TX = "0x" + "ab" * 32
AAPL = KNOWN_FEEDS["AAPL"]
MSFT = KNOWN_FEEDS["MSFT"]


def frame(
    to: str, selector: str, feed: str, price: tuple[int, int, int, int] | None, kind: str = "STATICCALL", **extra: Any
) -> dict[str, Any]:
    result: dict[str, Any] = {"type": kind, "from": "0x" + "01" * 20, "to": to, "input": selector + feed[2:]}
    if price is not None:
        result["output"] = "0x" + abi_encode(["(int64,uint64,int32,uint256)"], [price]).hex()
    result.update(extra)
    return result


def root(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"type": "CALL", "to": "0x" + "02" * 20, "input": "0x", "output": "0x", "calls": list(calls)}


def test_price_with_negative_exponent_is_exact() -> None:
    trace = find_pyth_calls(TX, root(frame(PYTH, "0xa4ae35e0", AAPL, (18712345, 1234, -5, 1_700_000_000))), PYTH)
    (call,) = trace.calls
    assert call.function == "getPriceNoOlderThan"
    assert (call.price.value, call.price.conf, call.price.expo, call.price.publish_time) == (
        18712345, 1234, -5, 1_700_000_000,
    )  # fmt: skip
    assert call.price.price == Decimal("187.12345")
    assert call.price.confidence == Decimal("0.01234")


def test_proxy_delegatecall_is_counted_once() -> None:
    inner = frame(IMPL, "0x96834ad3", AAPL, (1, 1, -8, 5), kind="DELEGATECALL")
    outer = frame(PYTH, "0x96834ad3", AAPL, (1, 1, -8, 5), calls=[inner])
    assert len(find_pyth_calls(TX, root(outer), PYTH).calls) == 1
    # even a DELEGATECALL whose `to` is the configured address is skipped
    odd = frame(PYTH, "0x96834ad3", AAPL, (1, 1, -8, 5), kind="DELEGATECALL")
    assert find_pyth_calls(TX, root(odd), PYTH).calls == ()


def test_reverted_frames_and_other_contracts_are_ignored() -> None:
    reverted = frame(PYTH, "0xa4ae35e0", AAPL, None, error="execution reverted")
    elsewhere = frame("0x" + "03" * 20, "0xa4ae35e0", AAPL, (1, 1, 0, 1))
    other_selector = frame(PYTH, "0xd47eed45", AAPL, (1, 1, 0, 1))
    assert find_pyth_calls(TX, root(reverted, elsewhere, other_selector), PYTH).calls == ()


def test_two_calls_in_call_order_and_choice_by_feed() -> None:
    nested = root(frame("0x" + "04" * 20, "0x", AAPL, None, kind="CALL", output="0x",
                        calls=[frame(PYTH.upper().replace("0X", "0x"), "0x31d98b3f", MSFT, (41234, 5, -2, 9))]),
                  frame(PYTH, "0xb5dcc911", AAPL, (19000, 7, -2, 10)))  # fmt: skip
    trace = find_pyth_calls(TX, nested, PYTH)
    assert [c.price.feed_id for c in trace.calls] == [MSFT, AAPL]
    price, detail = choose_price(trace, Symbol("AAPL"), KNOWN_FEEDS)
    assert price is not None
    assert price.price == Decimal("190.00")
    price, _ = choose_price(trace, Symbol("MSFT"), KNOWN_FEEDS)
    assert price is not None
    assert price.value == 41234
    price, detail = choose_price(trace, Symbol("GME"), KNOWN_FEEDS)
    assert price is None
    assert "no Pyth read of GME" in detail
    price, detail = choose_price(trace, Symbol("XYZ"), KNOWN_FEEDS)
    assert price is not None
    assert price.feed_id == MSFT
    assert "no feed configured" in detail


def test_malformed_output_is_reported_not_raised() -> None:
    bad = frame(PYTH, "0xa4ae35e0", AAPL, None, output="0x1234")
    trace = find_pyth_calls(TX, root(bad), PYTH)
    assert trace.calls == ()
    assert len(trace.problems) == 1
    price, detail = choose_price(trace, Symbol("AAPL"), KNOWN_FEEDS)
    assert price is None
    assert "unreadable" in detail


@pytest.mark.parametrize("trace", [None, "oops", {"calls": "nope"}, {"calls": [1]}])
def test_not_a_call_tree(trace: object) -> None:
    with pytest.raises(PythTraceError) as info:
        find_pyth_calls(TX, trace, PYTH)
    assert info.value.failure is PythFailure.MALFORMED_TRACE


def test_format() -> None:
    trace = find_pyth_calls(TX, root(frame(PYTH, "0xa4ae35e0", AAPL, (18712345, 1234, -5, 1_700_000_000))), PYTH)
    text = format_pyth_prices(trace)
    assert "187.12345" in text
    assert "(AAPL)" in text
    assert "expo=-5" in text
    assert format_pyth_prices(PythTrace(TX, ())) == f"No Pyth price read found in transaction {TX}."
