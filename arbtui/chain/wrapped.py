"""ERC-4626 wrapped equities: a fill in ``wtAAPL`` is an exposure in ``tAAPL`` shares.

Today's orderbooks trade tokenized equities wrapped as ERC-4626 vault shares (``wtAAPL`` wraps
``tAAPL``). One wrapper share is not one underlying share (the vault's rate moves with splits, dividends
and fees), so the shares to hedge are ``convertToAssets(wrapper amount)`` read with an ``eth_call`` **at
the fill's block** — the rate the trade happened at, whatever it is when intake reads it.

Applied after :func:`arbtui.chain.decode.build_fill`, whatever the orderbook version that produced the
fill (it reads only the fill: its token, its amount in wrapper base units and its block):

* a token is a vault when ``asset()`` answers a token address (:class:`~arbtui.chain.tokens.VaultCache`,
  once per token); a vault's fill gets ``amount`` = the underlying shares (``shares_raw`` and
  ``share_decimals`` in the underlying token's units), ``price_usdc`` = USDC / underlying shares, and
  :class:`~arbtui.domain.onchain_trade.Unwrapped` records the wrapper amount and the rate;
* a token whose symbol carries a wrapped marker (``wt``) but is no vault is skipped (``not_a_vault``);
* a vault whose ``convertToAssets`` reverts or gives no usable answer at that block, or whose underlying
  token's ``decimals()`` cannot be read, is skipped (``wrapper_unreadable``) — never hedged on a 1:1
  guess; one whose underlying token names another ticker is skipped (``wrapper_mismatch``).

A node error that is not an answer about the token (transport, rate limiting) raises
:class:`~arbtui.chain.rpc.RpcTransportError`: the range is read again, nothing is recorded meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from arbtui.chain.abi import word
from arbtui.chain.decode import SymbolMarkers, TokenFacts
from arbtui.chain.rpc import JsonRpcClient, RpcResponseError, RpcTransportError
from arbtui.chain.tokens import TokenCache, VaultCache, VaultFacts
from arbtui.domain.onchain_trade import OnChainFill, SkippedFill, SkipReason, Unwrapped
from arbtui.domain.values import DIVISION, MAX_TOKEN_DECIMALS, InvalidSymbol, PriceUsdc, Shares

CONVERT_TO_ASSETS_SELECTOR = "0x07a2d13a"
"""``convertToAssets(uint256 shares) returns (uint256 assets)``."""
RATE_LIMIT_CODES = frozenset({-32005, 429})


def convert_call(fill: OnChainFill) -> tuple[str, list[object]]:
    """The historic ``eth_call`` of ``convertToAssets(wrapper amount)`` at the fill's block."""
    data = CONVERT_TO_ASSETS_SELECTOR + fill.shares_raw.to_bytes(32, "big").hex()
    return ("eth_call", [{"to": fill.token_address, "data": data}, hex(fill.block_number)])


def _skip(fill: OnChainFill, reason: SkipReason, detail: str) -> SkippedFill:
    tid = fill.trade_id
    return SkippedFill(
        trade_id=tid,
        block_number=fill.block_number,
        block_hash=fill.block_hash,
        reason=reason,
        detail=f"{detail} (tx {tid.tx_hash} log {tid.log_index} block {fill.block_number})",
    )


def not_a_vault(fill: OnChainFill, vault: VaultFacts) -> SkippedFill:
    return _skip(
        fill,
        SkipReason.NOT_A_VAULT,
        f"{fill.token_symbol} at {fill.token_address} carries a wrapped-equity marker but is not an ERC-4626"
        f" vault ({vault.detail})",
    )


def unwrap_fill(
    fill: OnChainFill, vault: VaultFacts, asset: TokenFacts | None, answer: object, markers: SymbolMarkers
) -> OnChainFill | SkippedFill:
    """Pure: the fill in underlying shares, given ``convertToAssets``'s ``answer`` (hex data, or the
    node's :class:`RpcResponseError`) at the fill's block and the underlying token's facts."""
    assert vault.asset is not None
    where = f"{fill.token_symbol} at {fill.token_address} (asset {vault.asset})"
    if isinstance(answer, RpcResponseError):
        return _skip(
            fill,
            SkipReason.WRAPPER_UNREADABLE,
            f"{where}: convertToAssets({fill.shares_raw}) at block {fill.block_number} failed: {answer}",
        )
    raw = _uint256(answer)
    if raw is None:
        return _skip(
            fill,
            SkipReason.WRAPPER_UNREADABLE,
            f"{where}: convertToAssets({fill.shares_raw}) at block {fill.block_number} answered {answer!r:.90},"
            " not a uint256",
        )
    if asset is None or asset.decimals is None or not 0 <= asset.decimals <= MAX_TOKEN_DECIMALS:
        detail = asset.detail if asset is not None and asset.detail else "no decimals() answer"
        return _skip(fill, SkipReason.WRAPPER_UNREADABLE, f"{where}: underlying token's decimals unusable: {detail}")
    if asset.symbol is not None:
        try:
            underlying_ticker = markers.ticker(asset.symbol)
        except InvalidSymbol:
            underlying_ticker = None
        if underlying_ticker is not None and underlying_ticker != fill.symbol:
            return _skip(
                fill,
                SkipReason.WRAPPER_MISMATCH,
                f"{where}: the wrapper names {fill.symbol} but its underlying {asset.symbol} is {underlying_ticker}",
            )
    if raw == 0:
        return _skip(
            fill,
            SkipReason.ZERO_AMOUNT,
            f"{where}: convertToAssets({fill.shares_raw}) = 0 at block {fill.block_number}",
        )
    underlying = Shares.from_base_units(raw, asset.decimals)
    unwrapped = Unwrapped(
        wrapper_amount=fill.amount,
        wrapper_raw=fill.shares_raw,
        wrapper_decimals=fill.share_decimals,
        asset_address=vault.asset,
        asset_symbol=asset.symbol or "",
        rate=DIVISION.divide(underlying.value, fill.amount.value),
    )
    return fill.model_copy(
        update={
            "amount": underlying,
            "shares_raw": raw,
            "share_decimals": asset.decimals,
            "price_usdc": PriceUsdc.per_share(fill.usdc_amount, underlying),
            "unwrapped": unwrapped,
        }
    )


def _uint256(answer: object) -> int | None:
    data = word(answer)
    return None if data is None else int.from_bytes(data, "big")


def _transient(answer: object) -> bool:
    """A node error that says nothing about the token (rate limiting): retry, never skip."""
    if not isinstance(answer, RpcResponseError) or answer.is_revert:
        return False
    message = answer.rpc_message.lower()
    return answer.code in RATE_LIMIT_CODES or "rate limit" in message or "limit exceeded" in message


class Unwrapper:
    """Turns fills of ERC-4626 wrappers into fills of their underlying shares (see the module docs)."""

    def __init__(self, client: JsonRpcClient, tokens: TokenCache, markers: SymbolMarkers) -> None:
        self._client = client
        self._tokens = tokens
        self._markers = markers
        self.vaults = VaultCache(client)

    async def unwrap(self, fills: Sequence[OnChainFill]) -> tuple[list[OnChainFill], list[SkippedFill]]:
        """``fills`` in the same order, each in underlying shares where its token is a vault; the ones
        that cannot be are returned as skips instead."""
        if not fills:
            return [], []
        vaults = await self.vaults.facts({fill.token_address for fill in fills})
        wrapped = [fill for fill in fills if vaults[fill.token_address].asset is not None]
        assets: Mapping[str, TokenFacts] = {}
        answers: list[object] = []
        if wrapped:
            assets = await self._tokens.facts({str(vaults[fill.token_address].asset) for fill in wrapped})
            answers = await self._client.batch([convert_call(fill) for fill in wrapped])
            for fill, answer in zip(wrapped, answers, strict=True):
                if _transient(answer):
                    raise RpcTransportError("eth_call", f"convertToAssets of {fill.token_address}: {answer}")
        rates = {id(fill): answer for fill, answer in zip(wrapped, answers, strict=True)}
        kept: list[OnChainFill] = []
        skipped: list[SkippedFill] = []
        for fill in fills:
            vault = vaults[fill.token_address]
            if vault.asset is None:
                if self._markers.is_wrapped(fill.token_symbol):
                    skipped.append(not_a_vault(fill, vault))
                else:
                    kept.append(fill)
                continue
            result = unwrap_fill(fill, vault, assets.get(vault.asset), rates[id(fill)], self._markers)
            if isinstance(result, OnChainFill):
                kept.append(result)
            else:
                skipped.append(result)
        return kept, skipped
