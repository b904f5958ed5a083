"""The fast ABI decoder answers exactly what eth_abi answers: same values, same refusals (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode as eth_decode
from eth_abi.abi import encode as eth_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbtui.chain import abi_words, decode
from tests.chain_support.logs import (
    OWNER,
    TAAPL,
    USDC,
    after_clear_data,
    after_clear_v2_data,
    clear_data,
    clear_v3_data,
    order,
    order_v6,
    take_data,
    take_v3_data,
)

EVENT_TYPES = {
    "TakeOrderV2": decode._TAKE_TYPES,
    "ClearV2": decode._CLEAR_TYPES,
    "AfterClear": decode._AFTER_CLEAR_TYPES,
    "TakeOrderV3": decode._TAKE_V3_TYPES,
    "ClearV3": decode._CLEAR_V3_TYPES,
    "AfterClearV2": decode._AFTER_CLEAR_V2_TYPES,
}
FLOAT_2_5 = bytes.fromhex("ffffffee000000000000000000000000000000000000000022b1c8c1227a0000")
FLOAT_187 = (187).to_bytes(32, "big")


def sample_events() -> dict[str, bytes]:
    ours = order(OWNER, inputs=[(USDC, 6)], outputs=[(TAAPL, 18)])
    theirs = order("0x" + "ab" * 20, inputs=[(TAAPL, 18)], outputs=[(USDC, 6)])
    ours_v6 = order_v6(OWNER, inputs=[USDC], outputs=[TAAPL])
    theirs_v6 = order_v6("0x" + "ab" * 20, inputs=[TAAPL], outputs=[USDC], vault=0)
    return {
        "TakeOrderV2": take_data(ours, 0, 0, taker_input=25 * 10**17, taker_output=468_750_000),
        "ClearV2": clear_data(ours, theirs, (0, 0, 0, 0)),
        "AfterClear": after_clear_data(10**18, 187 * 10**6, 187 * 10**6, 10**18),
        "TakeOrderV3": take_v3_data(ours_v6, 0, 0, taker_input=FLOAT_2_5, taker_output=FLOAT_187),
        "ClearV3": clear_v3_data(ours_v6, theirs_v6, (0, 0, 0, 0)),
        "AfterClearV2": after_clear_v2_data(FLOAT_2_5, FLOAT_187, FLOAT_187, FLOAT_2_5),
    }


def eth_answer(types: list[str], data: bytes) -> tuple[str, Any]:
    try:
        return "value", eth_decode(types, data)
    except Exception as exc:  # noqa: BLE001 — the very error is what is compared
        return type(exc).__name__, str(exc)


def ours(types: list[str], data: bytes) -> tuple[str, Any]:
    try:
        return "value", abi_words.decode(types, data)
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("event", sorted(EVENT_TYPES))
def test_the_orderbook_events_decode_on_the_fast_path_to_eth_abis_values(event: str) -> None:
    types, data = EVENT_TYPES[event], sample_events()[event]
    plan = abi_words.compile_types(types)
    assert plan is not None
    assert abi_words.decode_fast(plan, data) == eth_decode(types, data)


# --- arbitrary types and values --------------------------------------------------------------------

ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


def leaf() -> st.SearchStrategy[tuple[str, st.SearchStrategy[Any]]]:
    return st.sampled_from(
        [
            ("address", ADDRESS),
            ("uint8", st.integers(0, 2**8 - 1)),
            ("uint64", st.integers(0, 2**64 - 1)),
            ("uint256", st.integers(0, 2**256 - 1)),
            ("bytes32", st.binary(min_size=32, max_size=32)),
            ("bytes4", st.binary(min_size=4, max_size=4)),
            ("bytes", st.binary(max_size=80)),
        ]
    )


def extend(
    inner: st.SearchStrategy[tuple[str, st.SearchStrategy[Any]]],
) -> st.SearchStrategy[tuple[str, st.SearchStrategy[Any]]]:
    arrays = inner.map(lambda t: (t[0] + "[]", st.lists(t[1], max_size=3).map(tuple)))
    tuples = st.lists(inner, min_size=1, max_size=4).map(
        lambda parts: ("(" + ",".join(p[0] for p in parts) + ")", st.tuples(*(p[1] for p in parts)))
    )
    return arrays | tuples


TYPE_AND_VALUES = st.lists(st.recursive(leaf(), extend, max_leaves=8), min_size=1, max_size=4)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_valid_encoding_decodes_fast_to_the_same_values(data: st.DataObject) -> None:
    parts = data.draw(TYPE_AND_VALUES)
    types = [t for t, _ in parts]
    values = tuple(data.draw(strategy) for _, strategy in parts)
    encoded = eth_encode(types, values)
    plan = abi_words.compile_types(types)
    assert plan is not None
    assert abi_words.decode_fast(plan, encoded) == eth_decode(types, encoded)


CORRUPTIONS = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("extend"), st.integers(1, 64), st.integers(0, 255)),
)


def corrupt(encoded: bytes, how: list[tuple[str, int, int]]) -> bytes:
    out = bytearray(encoded)
    for kind, where, byte in how:
        if kind == "set" and out:
            out[where % len(out)] = byte
        elif kind == "truncate" and out:
            del out[where % len(out) :]
        elif kind == "extend":
            out += bytes([byte]) * where
    return bytes(out)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_data_gets_eth_abis_own_answer_value_or_error(data: st.DataObject) -> None:
    parts = data.draw(TYPE_AND_VALUES)
    types = [t for t, _ in parts]
    encoded = eth_encode(types, tuple(data.draw(strategy) for _, strategy in parts))
    mangled = corrupt(encoded, data.draw(st.lists(CORRUPTIONS, min_size=1, max_size=3)))
    assert ours(types, mangled) == eth_answer(types, mangled)


FLOAT = st.binary(min_size=32, max_size=32)
IO_V2 = st.tuples(ADDRESS, FLOAT)
ORDER_V4 = st.tuples(
    ADDRESS,
    st.tuples(ADDRESS, ADDRESS, st.binary(max_size=70)),
    st.lists(IO_V2, max_size=3).map(tuple),
    st.lists(IO_V2, max_size=3).map(tuple),
    FLOAT,
)
SIGNED_CONTEXT = st.tuples(ADDRESS, st.lists(FLOAT, max_size=3).map(tuple), st.binary(max_size=70))
V3_VALUES: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "TakeOrderV3": st.tuples(
        ADDRESS,
        st.tuples(
            ORDER_V4,
            st.integers(0, 2**256 - 1),
            st.integers(0, 2**256 - 1),
            st.lists(SIGNED_CONTEXT, max_size=2).map(tuple),
        ),
        FLOAT,
        FLOAT,
    ),
    "ClearV3": st.tuples(ADDRESS, ORDER_V4, ORDER_V4, st.tuples(*[st.integers(0, 2**256 - 1)] * 4, FLOAT, FLOAT)),
    "AfterClearV2": st.tuples(ADDRESS, st.tuples(FLOAT, FLOAT, FLOAT, FLOAT)),
}


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_v3_fill_event_decodes_fast_to_eth_abis_values(data: st.DataObject) -> None:
    """The V5/V6 fill layouts (bytes32 Floats, IOs of (address, bytes32)) on the fast path, for arbitrary
    values: exactly what ``eth_abi.decode`` gives."""
    event = data.draw(st.sampled_from(sorted(V3_VALUES)))
    types = EVENT_TYPES[event]
    encoded = eth_encode(types, data.draw(V3_VALUES[event]))
    plan = abi_words.compile_types(types)
    assert plan is not None
    assert abi_words.decode_fast(plan, encoded) == eth_decode(types, encoded)


@settings(max_examples=300)
@given(
    event=st.sampled_from(sorted(EVENT_TYPES)),
    how=st.lists(CORRUPTIONS, min_size=1, max_size=3),
)
def test_a_corrupted_orderbook_event_gets_eth_abis_own_answer(event: str, how: list[tuple[str, int, int]]) -> None:
    types = EVENT_TYPES[event]
    mangled = corrupt(sample_events()[event], how)
    assert ours(types, mangled) == eth_answer(types, mangled)


def test_offsets_into_the_head_or_past_the_end_are_refused_as_eth_abi_refuses_them() -> None:
    types = ["uint256", "bytes"]
    good = eth_encode(types, (7, b"abc"))
    into_head = good[:32] + (32).to_bytes(32, "big") + good[64:]
    past_end = good[:32] + len(good).to_bytes(32, "big") + good[64:]
    for bad in (into_head, past_end):
        kind, message = ours(types, bad)
        assert kind == "InvalidPointer"
        assert (kind, message) == eth_answer(types, bad)


def test_non_zero_padding_is_refused_with_eth_abis_error() -> None:
    types = ["address", "uint8"]
    good = eth_encode(types, ("0x" + "11" * 20, 5))
    for bad in (b"\x01" + good[1:], good[:32] + b"\x01" + good[33:]):
        kind, _ = ours(types, bad)
        assert kind == "NonEmptyPaddingBytes"
        assert ours(types, bad) == eth_answer(types, bad)


def test_types_outside_the_fast_set_are_decoded_by_eth_abi() -> None:
    types = ["int64", "bool", "uint256[2]", "string"]
    values = (-5, True, (1, 2), "hé")
    assert abi_words.compile_types(types) is None
    assert abi_words.decode(types, eth_encode(types, values)) == values
