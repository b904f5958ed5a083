"""The JSON ABIs shipped inside the package (byte-for-byte copies of ``shared/abi``, plus
``IRaindexV6.json``: the V5/V6 fill events and ``vaultBalance2``, as the stand-in
``arbtui/demo/contracts/OrderBookV6StandIn.sol`` compiles them, struct names left out — the topic hashes
are pinned to RAINDEX.md by the tests), and what we derive from them: event topic hashes and the ABI
type lists the decoder uses."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_utils.abi import event_abi_to_log_topic, get_abi_input_types, get_abi_output_types
from eth_utils.crypto import keccak

ORDERBOOK = "IOrderBookV4.json"
RAINDEX_V6 = "IRaindexV6.json"
"""The fill events of IOrderBookV5 / IRaindexV6 (V6 changed functions only: its fill events are V5's)
and ``vaultBalance2``."""
PYTH = "IPyth.json"
ERC20 = "IERC20Metadata.json"

# The older interface form declares ``SignedContextV1.context`` as ``bytes32[]``: same word layout,
# different topic0 (RAINDEX.md). We listen for both and decode either with the uint256[] layout.
TAKE_ORDER_V2_BYTES32_SIGNATURE = (
    "TakeOrderV2(address,((address,(address,address,bytes),(address,uint8,uint256)[],"
    "(address,uint8,uint256)[],bytes32),uint256,uint256,(address,bytes32[],bytes)[]),uint256,uint256)"
)


class AbiError(LookupError):
    """An ABI file or an entry in it is missing: a packaging error, never a runtime condition."""


@cache
def load(name: str) -> list[dict[str, Any]]:
    """One of the shipped ABI files, parsed."""
    try:
        text = resources.files("arbtui.chain").joinpath("abi", name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AbiError(f"ABI {name} is not shipped in arbtui/chain/abi") from exc
    entries = json.loads(text)
    if not isinstance(entries, list):
        raise AbiError(f"ABI {name} is not a JSON list")
    return entries


def entry(name: str, kind: str, entry_name: str) -> dict[str, Any]:
    """The ABI entry ``entry_name`` of type ``kind`` (``event``/``function``) in file ``name``."""
    for item in load(name):
        if item.get("type") == kind and item.get("name") == entry_name:
            return item
    raise AbiError(f"{kind} {entry_name} not found in {name}")


def event_topic(entry_name: str, file: str = ORDERBOOK) -> str:
    """topic0 (``0x`` + 64 lower-case hex) of an event of ``file``."""
    return "0x" + event_abi_to_log_topic(entry(file, "event", entry_name)).hex()  # type: ignore[arg-type]


def event_data_types(entry_name: str, file: str = ORDERBOOK) -> list[str]:
    """ABI types of the event's (all non-indexed) parameters, in order."""
    abi = entry(file, "event", entry_name)
    if any(param.get("indexed") for param in abi["inputs"]):
        raise AbiError(f"event {entry_name} has indexed parameters; the decoder expects none")
    return list(get_abi_input_types(abi))  # type: ignore[arg-type]


def function_output_types(entry_name: str, file: str) -> list[str]:
    return list(get_abi_output_types(entry(file, "function", entry_name)))  # type: ignore[arg-type]


def keccak_text(text: str) -> str:
    """keccak256 of ``text`` as 64 lower-case hex digits (no ``0x``)."""
    return keccak(text=text).hex()


def word(answer: object) -> bytes | None:
    """The one 32-byte word of an ``eth_call`` answer (``"0x" + 64 hex``), else ``None`` (a revert's error,
    no data, anything longer or not hex)."""
    if not isinstance(answer, str) or not answer.startswith("0x"):
        return None
    try:
        data = bytes.fromhex(answer[2:])
    except ValueError:
        return None
    return data if len(data) == 32 else None
