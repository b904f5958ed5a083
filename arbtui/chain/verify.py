"""An empty log answer is verified, never believed (lesson 16).

A node may serve a block's header before its log index holds the block's logs, and a provider may answer
the parts of one batch from different nodes: ``eth_getLogs`` then says ``[]`` for blocks that do hold our
fills. So, for every block of a range near the head, intake reads the header too; a block whose
``logsBloom`` may hold one of our logs (a bloom has false positives, never false negatives) but for which
the range answer holds none is read again from an independent source — its receipts
(``eth_getBlockReceipts``, or each transaction's receipt on a node without that method). A block is
*confirmed* when its receipts are all there (one per transaction the header lists, each carrying the
header's hash); the cursor never moves past a block that is neither bloom-clean nor confirmed.

Pure parsing here (:class:`Header`, :class:`LogSelector`) plus one reader, :func:`confirm_by_receipts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from arbtui.chain.decode import DecodeError, RawLog, bloom_bits
from arbtui.chain.rpc import JsonRpcClient, RpcResponseError
from arbtui.domain.values import BlockRef

METHOD_NOT_FOUND = -32601
"""JSON-RPC's code for a method the node does not offer."""


class LogSelector:
    """The logs intake reads: emitted by one of ``addresses`` with topic0 one of ``topics``."""

    __slots__ = ("_address_bits", "_topic_bits", "addresses", "topics")

    def __init__(self, addresses: Iterable[str], topics: Iterable[str]) -> None:
        self.addresses = tuple(a.lower() for a in addresses)
        self.topics = tuple(t.lower() for t in topics)
        self._address_bits = tuple(bloom_bits(a) for a in self.addresses)
        self._topic_bits = tuple(bloom_bits(t) for t in self.topics)

    def may_hold(self, bloom_hex: object) -> bool:
        """False only if the ``logsBloom`` proves the block has none of our logs; True when unreadable."""
        if not isinstance(bloom_hex, str) or len(bloom_hex.removeprefix("0x")) != 512:
            return True
        try:
            bloom = int(bloom_hex, 16)
        except ValueError:
            return True

        def has(bits: tuple[int, ...]) -> bool:
            return all(bloom >> bit & 1 for bit in bits)

        return any(has(a) for a in self._address_bits) and any(has(t) for t in self._topic_bits)

    def matches(self, log: Mapping[str, Any]) -> bool:
        topics = log.get("topics")
        return (
            str(log.get("address", "")).lower() in self.addresses
            and isinstance(topics, list)
            and bool(topics)
            and str(topics[0]).lower() in self.topics
        )


@dataclass(frozen=True, slots=True)
class Header:
    """What intake needs of a block header (``eth_getBlockByNumber(n, false)``)."""

    ref: BlockRef
    parent_hash: str
    timestamp: int
    may_hold_ours: bool
    transactions: tuple[str, ...] | None
    """Transaction hashes the header lists (None when the node did not say)."""

    @classmethod
    def from_rpc(cls, obj: object, selector: LogSelector) -> Header | None:
        """None for anything that is not a readable header (``null``: the node does not know the block)."""
        if not isinstance(obj, Mapping):
            return None
        try:
            txs = obj.get("transactions")
            return cls(
                ref=BlockRef(int(str(obj["number"]), 16), str(obj["hash"]).lower()),
                parent_hash=str(obj["parentHash"]).lower(),
                timestamp=int(str(obj["timestamp"]), 16),
                may_hold_ours=selector.may_hold(obj.get("logsBloom")),
                transactions=tuple(str(t).lower() for t in txs) if isinstance(txs, list) else None,
            )
        except (KeyError, TypeError, ValueError):
            return None


def linked(headers: Sequence[Header]) -> bool:
    """Consecutive headers, each the parent of the next (one chain, read in one piece)."""
    return all(b.ref.number == a.ref.number + 1 and b.parent_hash == a.ref.hash for a, b in pairwise(headers))


@dataclass(frozen=True)
class Confirmation:
    """A block's logs of ours as its receipts hold them, or ``logs is None`` with why it is unconfirmed."""

    header: Header
    logs: tuple[RawLog, ...] | None
    reason: str = ""


@dataclass
class ReceiptReader:
    """Reads blocks' receipts; remembers whether the node offers ``eth_getBlockReceipts``."""

    client: JsonRpcClient
    selector: LogSelector
    block_receipts: bool = True

    async def confirm(self, headers: Sequence[Header]) -> list[Confirmation]:
        """One :class:`Confirmation` per header, in the same order (one batch, two on the fallback)."""
        if not headers:
            return []
        if self.block_receipts:
            answers = await self.client.batch([("eth_getBlockReceipts", [hex(h.ref.number)]) for h in headers])
            if not any(_unsupported(a) for a in answers):
                return [_confirm(h, a, self.selector) for h, a in zip(headers, answers, strict=True)]
            self.block_receipts = False
        return [await self._by_transaction(h) for h in headers]

    async def _by_transaction(self, header: Header) -> Confirmation:
        if header.transactions is None:
            return Confirmation(header, None, "the header lists no transactions to read receipts of")
        answers = await self.client.batch([("eth_getTransactionReceipt", [tx]) for tx in header.transactions])
        return _confirm(header, answers, self.selector)


def _unsupported(answer: object) -> bool:
    return isinstance(answer, RpcResponseError) and (
        answer.code == METHOD_NOT_FOUND or "not supported" in answer.rpc_message.lower()
    )


def _confirm(header: Header, receipts: object, selector: LogSelector) -> Confirmation:
    if isinstance(receipts, RpcResponseError):
        return Confirmation(header, None, f"receipts refused: {receipts}")
    if not isinstance(receipts, list):
        return Confirmation(header, None, "receipts not available yet")
    if header.transactions is not None and len(receipts) != len(header.transactions):
        return Confirmation(
            header, None, f"{len(receipts)} receipts for {len(header.transactions)} transactions in the header"
        )
    logs: list[RawLog] = []
    for receipt in receipts:
        if not isinstance(receipt, Mapping):
            return Confirmation(header, None, "a receipt is not available yet")
        if str(receipt.get("blockHash", "")).lower() != header.ref.hash:
            return Confirmation(header, None, "a receipt belongs to another block (the chain moved)")
        entries = receipt.get("logs")
        if not isinstance(entries, list):
            return Confirmation(header, None, "a receipt without logs")
        try:
            logs.extend(RawLog.from_rpc(entry) for entry in _ours(entries, selector))
        except DecodeError as exc:
            return Confirmation(header, None, f"unreadable receipt log: {exc}")
    return Confirmation(header, tuple(logs))


def _ours(entries: Iterable[object], selector: LogSelector) -> Iterable[Mapping[str, Any]]:
    return (e for e in entries if isinstance(e, Mapping) and selector.matches(e))
