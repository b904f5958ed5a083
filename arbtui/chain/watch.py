"""Silence is an alert: a configured orderbook that emits events of a generation this build cannot read.

Intake's reads filter by topic0 (the fill events of every known generation), so a log with any other
topic never reaches the decoder — a future V7 orderbook would look exactly like a quiet one (lesson 32).
:class:`TopicWatch` closes that gap off the hot path: once per reconciling interval, *after* the pass
that records new fills, it reads the blocks verified since its last look with an **address-only**
``eth_getLogs`` (no topic filter) and raises :class:`~arbtui.chain.signals.IntakeAlert`
(``UNKNOWN_TOPIC``) once per (orderbook, topic0) for a topic outside
:data:`~arbtui.chain.decode.KNOWN_ORDERBOOK_TOPICS`, naming the topic, block and transaction.

Why this shape: the live path (subscription, range reads, bloom checks) keeps its topic filter, so no
``ContextV2``/``Deposit``/``AddOrder`` traffic is fetched, decoded or bloom-matched per block there; the
watch reads each block once, one request per interval at most (``max_blocks`` per request, catching up
over several intervals after a long pause), and its failure never stops intake — the next interval
tries again. Its answer holds every log of the books in those blocks (fills and their ``ContextV2``,
deposits, orders): for a busy book about as much as the trailing re-scan reads, once per interval. At
start it looks back ``max_blocks`` blocks (never below the earliest deployment block), so a book that only
ever emits unknown events is reported on the first interval. The alert names the condition; fills in
such events are not hedged.

A cheaper variant was considered and left for later: the near-head headers intake already reads carry
``logsBloom``; a block whose bloom holds a book's address while the topic-filtered answer has no log of
that book is the only one that needs an address-only read. It costs nothing in steady state but misses an
unknown event in a block that also holds a known one.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbtui.chain.decode import KNOWN_ORDERBOOK_TOPICS, DecodeError, RawLog
from arbtui.chain.rpc import ChainRpcError, JsonRpcClient
from arbtui.chain.signals import AlertKind, IntakeAlert, IntakeObserver


class TopicWatch:
    """Reads the configured orderbooks' logs by address only, block by block once, and alerts once per
    unknown (orderbook, topic0)."""

    def __init__(
        self,
        client: JsonRpcClient,
        orderbooks: Sequence[str],
        observer: IntakeObserver,
        *,
        max_blocks: int = 64,
        floor: int = 0,
    ) -> None:
        self.client = client
        self.floor = floor
        """No block below this is read (the earliest deployment block: nothing of ours is older)."""
        self.orderbooks = tuple(book.lower() for book in orderbooks)
        self.observer = observer
        self.max_blocks = max(1, max_blocks)
        self.checked_through: int | None = None
        """The last block read (None before the first look)."""
        self.alerted: dict[tuple[str, str], int] = {}
        """(orderbook, topic0) → the block it was first seen in (each alerted once per process)."""
        self.reads = 0

    async def check(self, through: int | None) -> list[IntakeAlert]:
        """Look at the blocks after the last one read, up to ``through`` (the verified cursor); returns the
        alerts raised (also sent to the observer). Never raises for the node's sake."""
        if through is None:
            return []
        first = max(0, through - self.max_blocks + 1) if self.checked_through is None else self.checked_through + 1
        if first > through:
            return []
        end = min(through, first + self.max_blocks - 1)
        query = {
            "address": self.orderbooks[0] if len(self.orderbooks) == 1 else list(self.orderbooks),
            "fromBlock": hex(first),
            "toBlock": hex(end),
        }
        try:
            answer = await self.client.call("eth_getLogs", [query])
            logs = [RawLog.from_rpc(item) for item in answer] if isinstance(answer, list) else None
        except (ChainRpcError, DecodeError):
            return []  # the next interval reads the same blocks again
        if logs is None:
            return []
        self.reads += 1
        self.checked_through = end
        raised: list[IntakeAlert] = []
        for log in sorted(logs, key=lambda item: (item.block_number, item.log_index)):
            topic = log.topics[0] if log.topics else "(no topic: anonymous event)"
            key = (log.address, topic)
            if log.address not in self.orderbooks or topic in KNOWN_ORDERBOOK_TOPICS or key in self.alerted:
                continue
            self.alerted[key] = log.block_number
            alert = IntakeAlert(
                AlertKind.UNKNOWN_TOPIC,
                f"orderbook {log.address} emitted an event this build cannot read (topic0 {topic}) in block"
                f" {log.block_number}, tx {log.tx_hash}: a newer interface version? Its fills are NOT seen",
                {"orderbook": log.address, "topic": topic, "block": log.block_number, "tx": log.tx_hash},
            )
            self.observer(alert)
            raised.append(alert)
        return raised
