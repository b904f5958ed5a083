"""Pure parts of wrapped equities, Pyth block-end reads and what they add to events and views: the
``wt`` marker, unwrapping a fill with a rate read at its block, the skips, and old payloads unchanged."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from eth_abi.abi import encode as abi_encode

from arbtui.chain.decode import SymbolMarkers, TokenFacts
from arbtui.chain.pyth import block_end_price
from arbtui.chain.rpc import RpcResponseError
from arbtui.chain.tokens import VaultFacts, _vault_facts
from arbtui.chain.wrapped import convert_call, not_a_vault, unwrap_fill
from arbtui.domain import onchain_trade
from arbtui.domain.onchain_trade import Enriched, Filled, OnChainFill, OnChainTrade, PythMethod, SkippedFill
from arbtui.domain.values import Symbol
from arbtui.store.codec import decode_event, encode_event
from arbtui.store.projections import view_row
from arbtui.tui.model import fill_row
from tests.builders import T0, make_fill

WRAPPER = "0x" + "aa" * 20
ASSET = "0x" + "bb" * 20
MARKERS = SymbolMarkers()


def _wrapped_fill() -> OnChainFill:
    return make_fill(1, "2", price="187.5").model_copy(
        update={"token_symbol": "wtAAPL", "token_address": WRAPPER, "block_number": 42}
    )


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@pytest.mark.parametrize(("symbol", "ticker"), [("wtAAPL", "AAPL"), ("tAAPL", "AAPL"), ("wtNVDA", "NVDA")])
def test_the_wt_prefix_is_a_marker(symbol: str, ticker: str) -> None:
    assert MARKERS.ticker(symbol) == ticker
    assert MARKERS.is_wrapped(symbol) is symbol.startswith("wt")
    assert not SymbolMarkers(wrapped_prefixes=()).is_wrapped("wtAAPL")


def test_asset_answers_make_a_vault_or_say_why_not() -> None:
    address = "0x" + "00" * 12 + "bb" * 20
    assert _vault_facts(WRAPPER, address).asset == ASSET
    assert _vault_facts(WRAPPER, "0x").asset is None
    assert "not a token address" in _vault_facts(WRAPPER, _word(0)).detail
    assert "not a token address" in _vault_facts(WRAPPER, "0x" + "ff" * 32).detail
    revert = RpcResponseError("eth_call", 3, "execution reverted")
    assert "asset() reverted" in _vault_facts(WRAPPER, revert).detail


def test_unwrapping_uses_the_rate_at_the_fill_block_exactly() -> None:
    fill = _wrapped_fill()
    method, (call, block) = convert_call(fill)
    assert (method, call, block) == (
        "eth_call",
        {"to": WRAPPER, "data": "0x07a2d13a" + (2 * 10**18).to_bytes(32, "big").hex()},
        hex(42),
    )
    vault = VaultFacts(WRAPPER, ASSET)
    result = unwrap_fill(fill, vault, TokenFacts(ASSET, "tAAPL", 18), _word(25 * 10**17), MARKERS)
    assert isinstance(result, OnChainFill)
    assert (result.amount.value, result.shares_raw, result.share_decimals) == (Decimal("2.5"), 25 * 10**17, 18)
    assert result.price_usdc.value == Decimal(150)  # 375 USDC / 2.5 underlying shares
    assert result.usdc_amount == fill.usdc_amount
    assert result.unwrapped is not None
    assert (result.unwrapped.wrapper_amount.value, result.unwrapped.rate) == (Decimal(2), Decimal("1.25"))
    # a rate that does not divide: the underlying shares stay exact, the rate is the display figure
    odd = unwrap_fill(fill, vault, TokenFacts(ASSET, "tAAPL", 18), _word(2 * 10**18 + 1), MARKERS)
    assert isinstance(odd, OnChainFill)
    assert odd.amount.value == Decimal("2.000000000000000001")


@pytest.mark.parametrize(
    ("answer", "asset", "reason", "words"),
    [
        (RpcResponseError("eth_call", 3, "execution reverted: no rate"), "tAAPL", "wrapper_unreadable", "no rate"),
        (RpcResponseError("eth_call", -32000, "missing trie node"), "tAAPL", "wrapper_unreadable", "trie"),
        ("0x", "tAAPL", "wrapper_unreadable", "not a uint256"),
        (_word(0), "tAAPL", "zero_amount", "= 0"),
        (_word(10**18), "tMSFT", "wrapper_mismatch", "underlying tMSFT is MSFT"),
    ],
)
def test_an_unreadable_wrapper_is_a_skip_never_a_guess(answer: object, asset: str, reason: str, words: str) -> None:
    fill = _wrapped_fill()
    result = unwrap_fill(fill, VaultFacts(WRAPPER, ASSET), TokenFacts(ASSET, asset, 18), answer, MARKERS)
    assert isinstance(result, SkippedFill)
    assert (result.reason.value, result.trade_id) == (reason, fill.trade_id)
    assert words in result.detail
    assert fill.trade_id.tx_hash in result.detail
    no_decimals = unwrap_fill(fill, VaultFacts(WRAPPER, ASSET), TokenFacts(ASSET, "tAAPL", None), _word(1), MARKERS)
    assert isinstance(no_decimals, SkippedFill)
    assert no_decimals.reason.value == "wrapper_unreadable"
    plain = not_a_vault(fill, VaultFacts(WRAPPER, None, "asset() reverted: nope"))
    assert plain.reason.value == "not_a_vault"
    assert "asset() reverted" in plain.detail


def test_old_events_and_plain_fills_keep_their_bytes() -> None:
    """The new fields are left out when unset: a plain fill's payload is what it was, and an event stored
    before they existed still decodes (events are immutable)."""
    plain = make_fill(1, "2")
    event_type, version, payload = encode_event(Filled(fill=plain, at=T0))
    assert "unwrapped" not in payload
    assert version == "1.0"
    stored = json.loads(payload)
    assert decode_event(onchain_trade.SPEC, "x", 1, event_type, version, json.dumps(stored)) == Filled(
        fill=plain, at=T0
    )
    old_enriched = (
        '{"gas_used":1,"pyth_price":{"feed_id":"0x01","value":5,"conf":1,"expo":-1,"publish_time":9},"detail":""}'
    )
    enriched = decode_event(onchain_trade.SPEC, "x", 2, "Enriched", "1.0", old_enriched)
    assert isinstance(enriched, Enriched)
    assert enriched.pyth_price is not None
    assert enriched.pyth_price.method is None
    assert encode_event(enriched)[2] == old_enriched  # byte for byte
    # the view of such a trade has no new key either (rows written before keep matching a rebuild)
    trade = OnChainTrade(trade_id=str(plain.trade_id), status=onchain_trade.TradeStatus.FILLED, fill=plain,
                         filled_at=T0, enriched=enriched)  # fmt: skip
    row = view_row("OnChainTrade", trade.trade_id, 2, trade)
    assert row is not None
    view = json.loads(row[2])
    assert "wrapper" not in view
    assert "method" not in view["pyth_price"]


def test_block_end_price_and_the_console_row() -> None:
    answer = "0x" + abi_encode(["(int64,uint64,int32,uint256)"], [(18_712_345, 1_234, -5, 7)]).hex()
    price = block_end_price("0x" + "AB" * 32, answer)
    assert not isinstance(price, str)
    assert (price.price, price.method, price.feed_id) == (Decimal("187.12345"), PythMethod.BLOCK_END, "0x" + "ab" * 32)
    assert "failed" in str(block_end_price("0x01", RpcResponseError("eth_call", 3, "execution reverted")))
    assert "unreadable" in str(block_end_price("0x01", "0x1234"))
    fill = unwrap_fill(_wrapped_fill(), VaultFacts(WRAPPER, ASSET), TokenFacts(ASSET, "tAAPL", 18),
                       _word(25 * 10**17), MARKERS)  # fmt: skip
    assert isinstance(fill, OnChainFill)
    assert fill.symbol == Symbol("AAPL")
    trade = OnChainTrade(
        trade_id=str(fill.trade_id),
        status=onchain_trade.TradeStatus.FILLED,
        fill=fill,
        enriched=Enriched(gas_used=1, pyth_price=price),
    )
    row = fill_row(trade)
    assert row[4] == "2.5 (2 wtAAPL)"
    assert row[6] == "187.12 ·b"
