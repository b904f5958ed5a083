"""ERC-20 facts (``symbol()``, ``decimals()``, whether there is code at all) per token, cached.

One batched request per unknown token: ``eth_getCode`` + ``symbol()`` + ``decimals()``. A revert or an
unparseable answer is a *fact* about the token (cached, later turned into a skip reason by
:func:`arbtui.chain.decode.build_fill`); a transport failure is not (raised, nothing cached).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from arbtui.chain import abi
from arbtui.chain.decode import TokenFacts, TokenProblem
from arbtui.chain.rpc import JsonRpcClient, RpcResponseError, RpcTransportError

SYMBOL_SELECTOR = "0x95d89b41"
DECIMALS_SELECTOR = "0x313ce567"
_SYMBOL_TYPES = abi.function_output_types("symbol", abi.ERC20)
_DECIMALS_TYPES = abi.function_output_types("decimals", abi.ERC20)
MAX_SYMBOL_LENGTH = 32


class TokenCache:
    """Facts per token address (lower-case), read once per process."""

    def __init__(self, client: JsonRpcClient) -> None:
        self._client = client
        self._facts: dict[str, TokenFacts] = {}

    def known(self) -> dict[str, TokenFacts]:
        return dict(self._facts)

    async def facts(self, addresses: Iterable[str]) -> dict[str, TokenFacts]:
        """Facts for every address; reads the unknown ones (all in one HTTP request)."""
        wanted = {address.lower() for address in addresses}
        missing = sorted(wanted - self._facts.keys())
        if missing:
            calls: list[tuple[str, list[object]]] = []
            for address in missing:
                calls.append(("eth_getCode", [address, "latest"]))
                calls.append(("eth_call", [{"to": address, "data": SYMBOL_SELECTOR}, "latest"]))
                calls.append(("eth_call", [{"to": address, "data": DECIMALS_SELECTOR}, "latest"]))
            answers = await self._client.batch(calls)
            for index, address in enumerate(missing):
                code, symbol, decimals = answers[3 * index : 3 * index + 3]
                self._facts[address] = _facts(address, code, symbol, decimals)
        return {address: self._facts[address] for address in wanted}


def _facts(address: str, code: object, symbol: object, decimals: object) -> TokenFacts:
    for answer in (code, symbol, decimals):
        if isinstance(answer, RpcResponseError) and not answer.is_revert:
            raise RpcTransportError(answer.method, f"token {address}: {answer}")  # not a fact: retry later
    if isinstance(code, RpcResponseError) or code in (None, "0x", ""):
        return TokenFacts(address, None, None, (TokenProblem.NO_CONTRACT,), "eth_getCode is empty")
    problems: list[TokenProblem] = []
    details: list[str] = []
    parsed_symbol = _parse_symbol(symbol, problems, details)
    parsed_decimals = _parse_decimals(decimals, problems, details)
    return TokenFacts(address, parsed_symbol, parsed_decimals, tuple(problems), "; ".join(details))


def _hex_bytes(answer: object) -> bytes:
    if not isinstance(answer, str) or not answer.startswith("0x"):
        raise ValueError(f"not hex data: {answer!r:.80}")
    return bytes.fromhex(answer[2:])


def _parse_symbol(answer: object, problems: list[TokenProblem], details: list[str]) -> str | None:
    if isinstance(answer, RpcResponseError):
        problems.append(TokenProblem.SYMBOL_REVERTED)
        details.append(f"symbol() reverted: {answer.rpc_message}")
        return None
    try:
        (value,) = abi_decode(_SYMBOL_TYPES, _hex_bytes(answer))
    except (DecodingError, ValueError, OverflowError) as exc:
        problems.append(TokenProblem.SYMBOL_MALFORMED)
        details.append(f"symbol() answer does not decode as string: {exc}")
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_SYMBOL_LENGTH or not value.isprintable():
        problems.append(TokenProblem.SYMBOL_MALFORMED)
        details.append(f"symbol() = {value!r:.60} is not a usable symbol")
        return None
    return value


def _parse_decimals(answer: object, problems: list[TokenProblem], details: list[str]) -> int | None:
    if isinstance(answer, RpcResponseError):
        problems.append(TokenProblem.DECIMALS_REVERTED)
        details.append(f"decimals() reverted: {answer.rpc_message}")
        return None
    try:
        (value,) = abi_decode(_DECIMALS_TYPES, _hex_bytes(answer))
    except (DecodingError, ValueError, OverflowError) as exc:
        problems.append(TokenProblem.DECIMALS_MALFORMED)
        details.append(f"decimals() answer does not decode as uint8: {exc}")
        return None
    return int(value)


# --- ERC-4626: is the token a vault? ----------------------------------------------------------------

ASSET_SELECTOR = "0x38d52e0f"
"""``asset()``: an ERC-4626 vault answers its underlying token's address."""


@dataclass(frozen=True, slots=True)
class VaultFacts:
    """Whether a token is an ERC-4626 vault: ``asset`` is its underlying token (lower-case), or ``None``
    with the reason in ``detail`` (``asset()`` reverted, answered nothing, or not an address)."""

    token: str
    asset: str | None
    detail: str = ""


class VaultCache:
    """``asset()`` per token address (lower-case), read once per process like ``symbol()``/``decimals()``:
    one batched request for the unknown ones. A revert or an answer that is not an address is a fact (the
    token is not a vault; cached); a transport failure is not (raised, nothing cached)."""

    def __init__(self, client: JsonRpcClient) -> None:
        self._client = client
        self._facts: dict[str, VaultFacts] = {}

    async def facts(self, addresses: Iterable[str]) -> dict[str, VaultFacts]:
        wanted = {address.lower() for address in addresses}
        missing = sorted(wanted - self._facts.keys())
        if missing:
            answers = await self._client.batch(
                [("eth_call", [{"to": address, "data": ASSET_SELECTOR}, "latest"]) for address in missing]
            )
            for address, answer in zip(missing, answers, strict=True):
                self._facts[address] = _vault_facts(address, answer)
        return {address: self._facts[address] for address in wanted}


def _vault_facts(address: str, answer: object) -> VaultFacts:
    if isinstance(answer, RpcResponseError):
        if not answer.is_revert:
            raise RpcTransportError(answer.method, f"token {address} asset(): {answer}")  # not a fact: retry later
        return VaultFacts(address, None, f"asset() reverted: {answer.rpc_message}")
    try:
        data = _hex_bytes(answer)
    except ValueError as exc:
        return VaultFacts(address, None, f"asset() answer unreadable: {exc}")
    if not data:
        return VaultFacts(address, None, "asset() answered nothing")
    if len(data) != 32 or any(data[:12]) or not any(data[12:]):
        return VaultFacts(address, None, f"asset() answered 0x{data.hex():.80} (not a token address)")
    return VaultFacts(address, "0x" + data[12:].hex())
