"""Build raw Raindex logs in memory (pure: for the decode unit tests)."""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi.abi import encode as abi_encode

from arbtui.chain import decode
from arbtui.chain.abi import RAINDEX_V6, event_data_types
from arbtui.chain.decode import RawLog, TokenFacts

OWNER = "0x71b94911fd1ce621fc40970450004c544e5287a8"
OTHER = "0x00000000000000000000000000000000000b0b00"
BOOK = "0x881cf4c0764e733d9c387f3858ee87cca04affe0"
USDC = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"
TAAPL = "0x00000000000000000000000000000000000aa001"
AAPL0X = "0x00000000000000000000000000000000000aa002"
NVDAS1 = "0x00000000000000000000000000000000000aa003"
TX = "0x" + "ab" * 32
BLOCK_HASH = "0x" + "cd" * 32

IO = tuple[str, int, int]


def order(owner: str, inputs: Sequence[tuple[str, int]], outputs: Sequence[tuple[str, int]]) -> tuple[object, ...]:
    return (
        owner,
        ("0x" + "11" * 20, "0x" + "22" * 20, b"\x01"),
        [(t, d, 7) for t, d in inputs],
        [(t, d, 7) for t, d in outputs],
        b"\x00" * 31 + b"\x01",
    )


def take_data(taken: tuple[object, ...], input_io: int, output_io: int, taker_input: int, taker_output: int) -> bytes:
    config = (taken, input_io, output_io, [("0x" + "33" * 20, [1, 2], b"sig")])
    return abi_encode(event_data_types("TakeOrderV2"), ["0x" + "44" * 20, config, taker_input, taker_output])


def clear_data(alice: tuple[object, ...], bob: tuple[object, ...], io: tuple[int, int, int, int]) -> bytes:
    return abi_encode(event_data_types("ClearV2"), ["0x" + "44" * 20, alice, bob, (*io, 0, 0)])


def after_clear_data(alice_output: int, bob_output: int, alice_input: int, bob_input: int) -> bytes:
    return abi_encode(
        event_data_types("AfterClear"), ["0x" + "44" * 20, (alice_output, bob_output, alice_input, bob_input)]
    )


def raw(
    topic: str,
    data: bytes,
    log_index: int,
    *,
    tx: str = TX,
    block: int = 100,
    extra_topics: Sequence[str] = (),
    address: str = BOOK,
) -> RawLog:
    return RawLog(
        address=address,
        topics=(topic, *extra_topics),
        data=data,
        block_number=block,
        block_hash=BLOCK_HASH,
        tx_hash=tx,
        log_index=log_index,
        block_timestamp=1_700_000_000,
    )


def take_log(
    taken: tuple[object, ...],
    taker_input: int,
    taker_output: int,
    log_index: int = 0,
    *,
    topic: str = decode.TAKE_ORDER_V2,
    **kwargs: object,
) -> RawLog:
    return raw(topic, take_data(taken, 0, 0, taker_input, taker_output), log_index, **kwargs)  # type: ignore[arg-type]


def standard_tokens() -> dict[str, TokenFacts]:
    return {
        USDC: TokenFacts(USDC, "USDC", 6),
        TAAPL: TokenFacts(TAAPL, "tAAPL", 18),
        AAPL0X: TokenFacts(AAPL0X, "AAPL0x", 18),
        NVDAS1: TokenFacts(NVDAS1, "NVDAs1", 9),
    }


def config() -> decode.DecodeConfig:
    return decode.DecodeConfig(orderbook=BOOK, owner=OWNER, usdc=USDC)


# --- V5/V6 (IOrderBookV5 / IRaindexV6): IOs without decimals, Float amounts (bytes32) ---------------

BOOK_V6 = "0xe522cb4a5fcb2eb31a52ff41a4653d85a4fd7c9d"


def order_v6(owner: str, inputs: Sequence[str], outputs: Sequence[str], vault: int = 7) -> tuple[object, ...]:
    """An ``OrderV4`` tuple: IOs are (token, bytes32 vault id); no decimals."""
    vault_id = vault.to_bytes(32, "big")
    return (
        owner,
        ("0x" + "11" * 20, "0x" + "22" * 20, b"\x01"),
        [(t, vault_id) for t in inputs],
        [(t, vault_id) for t in outputs],
        b"\x00" * 31 + b"\x02",
    )


def take_v3_data(
    taken: tuple[object, ...], input_io: int, output_io: int, taker_input: bytes, taker_output: bytes
) -> bytes:
    """``TakeOrderV3`` data; the amounts are Float bytes (from Rain's own library in the tests)."""
    config = (taken, input_io, output_io, [("0x" + "33" * 20, [b"\x01" * 32], b"sig")])
    return abi_encode(
        event_data_types("TakeOrderV3", RAINDEX_V6), ["0x" + "44" * 20, config, taker_input, taker_output]
    )


def clear_v3_data(alice: tuple[object, ...], bob: tuple[object, ...], io: tuple[int, int, int, int]) -> bytes:
    return abi_encode(
        event_data_types("ClearV3", RAINDEX_V6), ["0x" + "44" * 20, alice, bob, (*io, b"\x00" * 32, b"\x00" * 32)]
    )


def after_clear_v2_data(alice_output: bytes, bob_output: bytes, alice_input: bytes, bob_input: bytes) -> bytes:
    return abi_encode(
        event_data_types("AfterClearV2", RAINDEX_V6),
        ["0x" + "44" * 20, (alice_output, bob_output, alice_input, bob_input)],
    )


def config_both() -> decode.DecodeConfig:
    """The V4 book and a V6 book read together."""
    return decode.DecodeConfig(orderbooks=(BOOK, BOOK_V6), owner=OWNER, usdc=USDC)
