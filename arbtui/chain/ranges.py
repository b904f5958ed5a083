"""One pass of reconciliation: from the ledger's cursor to a target block, in bounded chunks.

Each chunk is one batched JSON-RPC request: ``eth_getLogs(first..end)``, the headers
(``eth_getBlockByNumber``) of the chunk's blocks — every block for a chunk within ``rescan_blocks`` of
the target, the last block only for a chunk deeper than that — and, on the first chunk, the cursor's
header (reorg check). The range is recorded — fills, skips and cursor := end in one ledger transaction —
only when it is verified (lesson 16, :mod:`arbtui.chain.verify`): every header is known and the headers
link up; every log carries its block's hash; and a block whose ``logsBloom`` may hold our logs while the
answer holds none of them is confirmed by its receipts (logs they hold are recorded; the inconsistency is
an alert). The cursor never moves past a block that is neither bloom-clean nor confirmed. Up to
``max_inflight_chunks`` requests are in flight ahead of the recorder; recording stays in order.

A trailing re-scan (:meth:`RangeReader.rescan`) reads the last ``rescan_blocks`` blocks below the
verified cursor once more, so a log the node indexed late is still recorded (the ledger's keys make the
re-read free of duplicates; logs already seen in this process are not written again).

The cursor is read from the ledger once and then kept in memory (intake is its only writer; a failed
write makes it read again). Next to it the reader keeps the *verified* cursor: the end of the last range
read back with ``eth_getLogs``. The two differ only after :meth:`RangeReader.record_notified` recorded
blocks straight from the subscription (each header linked to the cursor by ``parentHash``; at most
:data:`MAX_UNVERIFIED` of them, each with its own checkpoint). A pass reads again from the verified
cursor; a range ending at, or a log in, a block recorded above it must carry the recorded hash, else the
ledger rewinds — so a block the subscription delivered only in part is completed (duplicates are no-ops)
and one a reorg removed is retracted. After a restart the newest :data:`MAX_UNVERIFIED` recorded ranges
are read again, since they may have come from notifications.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any

from arbtui.chain.decode import (
    INTAKE_TOPICS,
    DecodeConfig,
    RawLog,
    build_fill,
    clears_complete,
    extract_sides,
    tokens_needed,
)
from arbtui.chain.ports import FillLedger
from arbtui.chain.rpc import JsonRpcClient, RpcResponseError, RpcTransportError
from arbtui.chain.signals import (
    AlertKind,
    BackfillProgress,
    IntakeAlert,
    IntakeAlertCleared,
    IntakeObserver,
    OrderbookBackfilled,
    RangeRecorded,
    ReceiptsRead,
    ReorgHandled,
)
from arbtui.chain.tokens import TokenCache
from arbtui.chain.verify import Header, LogSelector, ReceiptReader, linked
from arbtui.chain.wrapped import Unwrapper
from arbtui.domain.onchain_trade import OnChainFill, SkippedFill
from arbtui.domain.values import BlockRef, OrderbookBackfill, TradeId

MAX_UNVERIFIED = 32
"""Blocks recorded from notifications and not yet read back, at most (and ranges re-read at start)."""
RESCAN_SLICES = 4
"""Ranges the trailing re-scan window is read in (see :meth:`RangeReader.rescan`)."""


class PassOutcome(StrEnum):
    """Why a pass stopped before its target (or that it reached it)."""

    DONE = "done"
    REORG = "reorg"
    NODE_BEHIND = "node_behind"
    UNCONFIRMED = "unconfirmed"
    """A block's bloom may hold our logs, the answer holds none and its receipts could not be read:
    recorded up to the block before it; the next pass tries again."""
    RETRY_SMALLER = "retry_smaller"


@dataclass(frozen=True)
class PassResult:
    outcome: PassOutcome
    recorded_through: int | None
    new_fills: int


@dataclass(frozen=True)
class _Chunk:
    first: int
    end: int
    check_cursor: BlockRef | None
    verify: bool
    """Near the head: every block's header is read and checked (deeper chunks: the last one's only)."""

    @property
    def header_numbers(self) -> range:
        return range(self.first if self.verify else self.end, self.end + 1)


@dataclass(frozen=True)
class _Answer:
    chunk: _Chunk
    cursor_block: object
    logs: object
    headers: tuple[object, ...]
    """The raw answers for :attr:`_Chunk.header_numbers`, in order."""


@dataclass(frozen=True)
class NotifiedHead:
    """A block header as a ``newHeads`` notification announced it."""

    ref: BlockRef
    parent_hash: str
    may_hold_ours: bool = True
    """False when its ``logsBloom`` proves the block has none of the logs intake reads."""


def _key(log: RawLog) -> tuple[str, str, int]:
    return (log.block_hash, log.tx_hash, log.log_index)


def _block_ref(block: object) -> BlockRef | None:
    if not isinstance(block, Mapping):
        return None
    return BlockRef(int(str(block["number"]), 16), str(block["hash"]).lower())


class RangeReader:
    """Fetches, decodes and records ranges; detects reorgs and rewinds the ledger to the fork point."""

    def __init__(
        self,
        client: JsonRpcClient,
        ledger: FillLedger,
        tokens: TokenCache,
        decode: DecodeConfig,
        observer: IntakeObserver,
        *,
        deployment_block: int,
        chunk_blocks: int,
        max_inflight_chunks: int,
        checkpoint_limit: int,
        rescan_blocks: int = 64,
        endpoint: str = "",
        on_new_fills: Callable[[list[OnChainFill]], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.tokens = tokens
        self.decode = decode
        self.observer = observer
        self.deployment_block = deployment_block
        self.chunk_blocks = chunk_blocks
        self.max_inflight = max(1, max_inflight_chunks)
        self.checkpoint_limit = checkpoint_limit
        self.rescan_blocks = max(1, rescan_blocks)
        """Blocks nearer the target than this are verified block by block; the re-scan re-reads as many."""
        self.endpoint = endpoint
        """The node's name for alerts (scheme, host and port: never a path that may hold an API key)."""
        self.on_new_fills = on_new_fills
        self.selector = LogSelector(decode.orderbooks, INTAKE_TOPICS)
        self.receipts = ReceiptReader(client, self.selector)
        self.unwrapper = Unwrapper(client, tokens, decode.markers)
        """ERC-4626 wrappers' fills → underlying shares (:mod:`arbtui.chain.wrapped`)."""
        self._window: dict[int, tuple[str, int]] = {}
        """(hash, timestamp) of blocks read in the re-scan window: the re-scan checks logs against them."""
        self._seen: dict[int, set[tuple[str, str, int]]] = {}
        """Keys of the logs already read, by block, in the re-scan window: what a re-read need not write."""
        self._waiting_at: int | None = None
        """The block whose receipts could not confirm it (intake waits below it), until it is recorded."""
        self._loaded = False
        self._cursor: BlockRef | None = None
        self._verified: BlockRef | None = None
        self._recorded: dict[int, BlockRef] = {}
        """Recorded range ends above the verified cursor, by number: what a range read must find again."""
        self._notified_keys: set[tuple[str, str, int]] = set()
        """(block hash, tx hash, log index) of logs recorded from notifications and not yet read back."""
        self.notified_blocks = 0
        """Blocks recorded straight from notifications (tests assert that the path really ran)."""
        self.held_back: dict[str, int] = {}
        """Orderbook → the last block of its pending history backfill: the ordinary reads and the re-scan
        leave that book's logs up to there to the backfill (else the re-scan would take them for logs the
        node failed to index, and alert)."""

    async def cursor(self) -> BlockRef | None:
        """The ledger's cursor: read once, then kept in memory (intake is its only writer)."""
        if not self._loaded:
            recent = await self.ledger.checkpoints(MAX_UNVERIFIED + 1)
            self._cursor = recent[0] if recent else None
            # the newest ranges may have been recorded from notifications: they are read back once more
            self._verified = recent[MAX_UNVERIFIED] if len(recent) > MAX_UNVERIFIED else None
            self._recorded = {ref.number: ref for ref in recent[:MAX_UNVERIFIED]}
            self._notified_keys.clear()
            self._loaded = True
        return self._cursor

    @property
    def unverified_blocks(self) -> int:
        """Blocks recorded from notifications (or, after a start, recorded at all) not yet read back."""
        return len(self._recorded)

    @property
    def verified_through(self) -> int | None:
        """The end of the last range read back with ``eth_getLogs`` (None before the first)."""
        return self._verified.number if self._verified is not None else None

    @property
    def recorded_cursor(self) -> BlockRef | None:
        """The cursor as kept in memory (None also before the first read)."""
        return self._cursor

    def recorded_through(self, block: int) -> bool:
        """Whether the cursor (in memory) is at or past ``block``."""
        return self._cursor is not None and self._cursor.number >= block

    def forget_cursor(self) -> None:
        """Read the cursor from the ledger again before the next use (a write failed: it may or may not
        have committed)."""
        self._loaded = False

    def _advance(self, end: BlockRef, *, verified: bool) -> None:
        if self._cursor is None or end.number >= self._cursor.number:
            self._cursor = end
        if verified:
            if self._waiting_at is not None and end.number >= self._waiting_at:
                message = f"block {self._waiting_at} is confirmed: intake moved on to {end.number}"
                self.observer(IntakeAlertCleared(AlertKind.LOGS_UNCONFIRMED, message))
                self._waiting_at = None
            self._verified = end
            self._recorded = {n: ref for n, ref in self._recorded.items() if n > end.number}
            if not self._recorded:
                self._notified_keys.clear()
        else:
            self._recorded[end.number] = end

    async def run_pass(self, target: int, *, report_progress: bool = False) -> PassResult:
        """Record everything from the verified cursor through ``target`` (or stop early and say why)."""
        cursor = await self.cursor()
        verified = self._verified if cursor is not None else None
        first = verified.number + 1 if verified is not None else self.deployment_block
        if target < first:
            if cursor is not None and not await self._cursor_still_canonical(cursor):
                await self._rewind_from(cursor, target)
                return PassResult(PassOutcome.REORG, None, 0)
            return PassResult(PassOutcome.DONE, cursor.number if cursor else None, 0)
        chunks: deque[_Chunk] = deque()
        verify_from = target - self.rescan_blocks + 1
        start = first
        while start <= target:
            near = start >= verify_from
            end = min(target if near else verify_from - 1, start + self.chunk_blocks - 1)
            chunks.append(_Chunk(start, end, verified if start == first else None, verify=near))
            start = end + 1
        inflight: deque[asyncio.Task[_Answer]] = deque()
        new_total = 0
        recorded_through: int | None = verified.number if verified else None
        try:
            while chunks or inflight:
                while chunks and len(inflight) < self.max_inflight:
                    inflight.append(asyncio.create_task(self._fetch(chunks.popleft())))
                answer = await inflight.popleft()
                outcome, new = await self._record(answer, target)
                if outcome is not PassOutcome.DONE:
                    return PassResult(outcome, recorded_through, new_total)
                new_total += new
                recorded_through = answer.chunk.end
                if report_progress:
                    self.observer(BackfillProgress(first, answer.chunk.end, target, new_total))
        finally:
            for task in inflight:
                task.cancel()
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
        return PassResult(PassOutcome.DONE, recorded_through, new_total)

    async def _fetch(self, chunk: _Chunk) -> _Answer:
        numbers = chunk.header_numbers
        calls: list[tuple[str, list[object]]] = [("eth_getLogs", [self._log_filter(chunk.first, chunk.end)])]
        calls += [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        if chunk.check_cursor is not None:
            calls.append(("eth_getBlockByNumber", [hex(chunk.check_cursor.number), False]))
        answers = await self.client.batch(calls)
        for answer in answers[1:]:
            if isinstance(answer, RpcResponseError):
                raise RpcTransportError(answer.method, f"block {chunk.first}..{chunk.end}: {answer}")
        cursor_block = answers[-1] if chunk.check_cursor is not None else None
        return _Answer(chunk, cursor_block, answers[0], tuple(answers[1 : 1 + len(numbers)]))

    async def _record(self, answer: _Answer, target: int) -> tuple[PassOutcome, int]:
        chunk = answer.chunk
        if chunk.check_cursor is not None:
            seen = _block_ref(answer.cursor_block)
            if seen != chunk.check_cursor:
                await self._rewind_from(self._cursor or chunk.check_cursor, target)
                return PassOutcome.REORG, 0
        if isinstance(answer.logs, RpcResponseError):
            span = chunk.end - chunk.first + 1
            if span == 1:
                raise RpcTransportError("eth_getLogs", f"block {chunk.first}: {answer.logs}")
            self.chunk_blocks = max(1, span // 2)
            self.observer(
                IntakeAlert(
                    AlertKind.RANGE_TOO_LARGE,
                    f"eth_getLogs over {span} blocks refused; retrying with {self.chunk_blocks}",
                    {"first": chunk.first, "end": chunk.end, "error": str(answer.logs)},
                )
            )
            return PassOutcome.RETRY_SMALLER, 0
        headers = [Header.from_rpc(raw, self.selector) for raw in answer.headers]
        for number, header in zip(chunk.header_numbers, headers, strict=True):
            if header is None or header.ref.number != number:
                self.observer(
                    IntakeAlert(
                        AlertKind.NODE_BEHIND,
                        f"node does not know block {number} yet: its log answer is not trusted, retrying later",
                        {
                            "first": chunk.first,
                            "end": chunk.end,
                            "logs": len(answer.logs) if isinstance(answer.logs, list) else None,
                        },
                    )
                )
                return PassOutcome.NODE_BEHIND, 0
        known = [h for h in headers if h is not None]
        if not linked(known):
            return PassOutcome.REORG, 0  # the chain moved while the headers were read: the next pass re-checks
        if not isinstance(answer.logs, list):
            raise RpcTransportError("eth_getLogs", f"block {chunk.first}..{chunk.end}: answer is not a list")
        logs = [RawLog.from_rpc(item) for item in answer.logs]
        hashes = {h.ref.number: h.ref.hash for h in known}
        if any(log.block_hash != hashes.get(log.block_number, log.block_hash) for log in logs):
            return PassOutcome.REORG, 0  # the chain moved between the two reads: the next pass re-checks
        cursor = self._cursor
        if cursor is not None and self._conflicts(known[-1].ref, logs):
            await self._rewind_from(cursor, target)  # a block recorded above the verified cursor is gone
            return PassOutcome.REORG, 0
        end_ref: BlockRef | None = known[-1].ref
        outcome = PassOutcome.DONE
        if chunk.verify:
            logs, end_ref, outcome = await self._confirmed(known, logs)
            if end_ref is None:
                return outcome, 0
            self._remember(known, logs, through=end_ref.number)
        assert end_ref is not None
        if self._recorded.get(end_ref.number) == end_ref and all(_key(log) in self._notified_keys for log in logs):
            # read back exactly what was recorded from notifications: nothing to write
            self._advance(end_ref, verified=True)
            return outcome, 0
        logs = await self._with_timestamps(logs)
        fills, skips = await self._decode(logs)
        new_ids = await self._write(fills, skips, end_ref, chunk.first, end_ref.number)
        self._advance(end_ref, verified=True)
        return outcome, len(new_ids)

    async def _confirmed(
        self, headers: list[Header], logs: list[RawLog]
    ) -> tuple[list[RawLog], BlockRef | None, PassOutcome]:
        """The answer's logs plus those the receipts hold for blocks whose bloom may hold ours while the
        answer holds none; the range ends before the first block whose receipts cannot confirm it."""
        holding = {log.block_number for log in logs}
        suspects = [h for h in headers if h.may_hold_ours and h.ref.number not in holding]
        if not suspects:
            return logs, headers[-1].ref, PassOutcome.DONE
        confirmations = await self.receipts.confirm(suspects)
        end: BlockRef | None = headers[-1].ref
        outcome = PassOutcome.DONE
        recovered: list[RawLog] = []
        for confirmation in confirmations:
            if confirmation.logs is None:
                index = headers.index(confirmation.header)
                end = headers[index - 1].ref if index > 0 else None
                outcome = PassOutcome.UNCONFIRMED
                number = confirmation.header.ref.number
                self._waiting_at = number
                self.observer(
                    IntakeAlert(
                        AlertKind.LOGS_UNCONFIRMED,
                        f"block {number} may hold our fills but {self.endpoint or 'the node'} answered none and its"
                        f" receipts cannot confirm it ({confirmation.reason}): intake waits at block {number - 1}",
                        {"block": number, "endpoint": self.endpoint, "reason": confirmation.reason},
                    )
                )
                break
            recovered.extend(confirmation.logs)
        read = [c for c in confirmations if c.logs is not None]
        self.observer(ReceiptsRead(tuple(c.header.ref.number for c in read), len(recovered)))
        if recovered:
            self._inconsistent(recovered, "receipts")
        kept = sorted(
            (log for log in [*logs, *recovered] if end is not None and log.block_number <= end.number),
            key=lambda log: (log.block_number, log.log_index),
        )
        return kept, end, outcome

    def _inconsistent(self, found: list[RawLog], found_by: str) -> None:
        blocks = sorted({log.block_number for log in found})
        self.observer(
            IntakeAlert(
                AlertKind.INCONSISTENT_LOGS,
                f"{self.endpoint or 'the node'} answered eth_getLogs without {len(found)} log(s) of the orderbook"
                f" in blocks {blocks[0]}..{blocks[-1]} that its {found_by} hold: recorded now",
                {"first": blocks[0], "last": blocks[-1], "logs": len(found), "found_by": found_by,
                 "endpoint": self.endpoint},
            )
        )  # fmt: skip

    def _remember(self, headers: list[Header], logs: list[RawLog], *, through: int) -> None:
        """Keep the window's block hashes and read log keys for the re-scan."""
        for header in headers:
            if header.ref.number <= through:
                self._window[header.ref.number] = (header.ref.hash, header.timestamp)
                self._seen.setdefault(header.ref.number, set())
        for log in logs:
            self._seen.setdefault(log.block_number, set()).add(_key(log))
        self._trim(through - self.rescan_blocks)

    def _trim(self, low: int) -> None:
        """Forget the window below ``low`` (only now and then: the window stays bounded)."""
        if len(self._window) > 2 * self.rescan_blocks:
            self._window = {n: v for n, v in self._window.items() if n >= low}
            self._seen = {n: v for n, v in self._seen.items() if n >= low}

    async def rescan(self) -> int:
        """Read the last ``rescan_blocks`` blocks below the verified cursor again and record the logs the
        first reads did not have (an alert names them). Returns how many fills were new.

        The window is read in :data:`RESCAN_SLICES` ranges in one batch: a node whose log index lags
        answers ``[]`` for a range that reaches its unindexed blocks, so the older slices still get the
        whole answer while the newest blocks are being indexed."""
        verified = self._verified
        cursor = self._cursor
        if verified is None or cursor is None:
            return 0
        low = max(self.deployment_block, verified.number - self.rescan_blocks + 1)
        self._trim(low)
        step = -(-(verified.number - low + 1) // RESCAN_SLICES)
        slices = [(first, min(first + step - 1, verified.number)) for first in range(low, verified.number + 1, step)]
        missing = [n for n in range(low, verified.number + 1) if n not in self._window]
        answers = await self.client.batch(
            [
                *(("eth_getLogs", [self._log_filter(first, end)]) for first, end in slices),
                *(("eth_getBlockByNumber", [hex(n), False]) for n in missing),
            ]
        )
        for number, raw in zip(missing, answers[len(slices) :], strict=True):
            header = Header.from_rpc(raw, self.selector)
            if header is not None and header.ref.number == number:
                self._window[number] = (header.ref.hash, header.timestamp)
        # a refused or garbled slice is read again by the next re-scan
        answered = [answer for answer in answers[: len(slices)] if isinstance(answer, list)]
        logs = [RawLog.from_rpc(item) for answer in answered for item in answer]
        canonical = [log for log in logs if self._window.get(log.block_number, ("",))[0] == log.block_hash]
        fresh = {log.block_number for log in canonical if _key(log) not in self._seen.get(log.block_number, ())}
        if not fresh:
            return 0
        again = [log for log in canonical if log.block_number in fresh]  # whole blocks: clears keep their pair
        fills, skips = await self._decode(await self._with_timestamps(again))
        new_ids = await self._write(fills, skips, cursor, low, verified.number)
        for log in canonical:
            self._seen.setdefault(log.block_number, set()).add(_key(log))
        if new_ids:
            found = {(t.tx_hash, t.log_index) for t in new_ids}
            self._inconsistent([log for log in again if (log.tx_hash, log.log_index) in found], "re-read")
        return len(new_ids)

    def _log_filter(self, first: int, end: int, books: Sequence[str] | None = None) -> dict[str, object]:
        """Fill events of every generation, from every configured orderbook (or ``books``), in one filter."""
        addresses = list(books if books is not None else self.decode.orderbooks)
        return {
            "address": addresses[0] if len(addresses) == 1 else addresses,
            "topics": [list(INTAKE_TOPICS)],
            "fromBlock": hex(first),
            "toBlock": hex(end),
        }

    def _conflicts(self, end_ref: BlockRef, logs: list[RawLog]) -> bool:
        """A range read disagrees with a block recorded above the verified cursor (it was reorged away)."""
        if not self._recorded:
            return False
        seen = self._recorded.get(end_ref.number)
        if seen is not None and seen != end_ref:
            return True
        for log in logs:
            ref = self._recorded.get(log.block_number)
            if ref is not None and ref.hash != log.block_hash:
                return True
        return False

    async def record_notified(
        self, head: NotifiedHead, logs: Sequence[RawLog], between: Sequence[NotifiedHead] = ()
    ) -> bool:
        """Record ``logs`` of block ``head`` straight from the subscription, without a range read. Only
        when that is safe: the block follows the cursor — its ``parentHash`` is the cursor's hash, or the
        headers ``between`` link it to the cursor and their blooms prove they hold none of our logs — or
        it is the cursor block itself, not yet read back (more of its logs); every log carries the
        header's hash and a timestamp; every ``ClearV2`` comes with its ``AfterClear``. The cursor moves
        to the block in the same transaction; a later pass reads the blocks back (see the module docs).
        False = not recorded (nothing was written): a range read must cover it."""
        cursor = await self.cursor()
        if cursor is None or not logs:
            return False
        if head.ref.number > cursor.number:
            chain = [*between, head]
            if (
                chain[0].ref.number != cursor.number + 1
                or chain[0].parent_hash != cursor.hash
                or any(b.parent_hash != a.ref.hash or b.ref.number != a.ref.number + 1 for a, b in pairwise(chain))
                or any(h.may_hold_ours for h in between)
                or self.unverified_blocks >= MAX_UNVERIFIED
            ):
                return False
        elif head.ref != cursor:
            return False
        elif self._verified == cursor:
            return True  # a range read already read this very block back: nothing of it is missing
        if not all(
            log.block_hash == head.ref.hash
            and log.block_number == head.ref.number
            and log.block_timestamp is not None
            and log.address in self.decode.orderbooks
            and not log.removed
            for log in logs
        ) or not clears_complete(logs):
            return False
        fills, skips = await self._decode(list(logs))
        await self._write(fills, skips, head.ref, min(head.ref.number, cursor.number + 1), head.ref.number)
        self._advance(head.ref, verified=False)
        self._notified_keys.update(_key(log) for log in logs)
        self.notified_blocks += 1
        return True

    async def backfill_step(self, task: OrderbookBackfill) -> OrderbookBackfill:
        """Record the next chunk of an added orderbook's history (its logs only, ``chunk_blocks`` blocks at
        most, never past ``task.through_block``): fills, skips and the book's progress in one ledger
        transaction. Returns the task as it now stands (unchanged when the node could not answer yet).

        No reorg handling of its own: the range lies at or below the chain cursor the book joined at, and
        a reorg that reaches it reaches the cursor too — the ordinary pass then rewinds (retracting every
        trade above the fork, backfilled ones included) and reads the blocks again with every book."""
        first = task.next_block
        end = min(task.through_block, first + self.chunk_blocks - 1)
        logs_answer, header = await self.client.batch(
            [("eth_getLogs", [self._log_filter(first, end, (task.orderbook,))]),
             ("eth_getBlockByNumber", [hex(end), False])]
        )  # fmt: skip
        if isinstance(logs_answer, RpcResponseError):
            span = end - first + 1
            if span == 1:
                raise RpcTransportError("eth_getLogs", f"{task.orderbook} block {first}: {logs_answer}")
            self.chunk_blocks = max(1, span // 2)
            return task
        if _block_ref(header) is None or not isinstance(logs_answer, list):
            self.observer(
                IntakeAlert(
                    AlertKind.NODE_BEHIND,
                    f"node does not answer block {end} for the backfill of {task.orderbook}: retrying later",
                    {"first": first, "end": end, "orderbook": task.orderbook},
                )
            )
            return task
        logs = await self._with_timestamps([RawLog.from_rpc(item) for item in logs_answer])
        fills, skips = await self._decode(logs, backfill=True)
        new_ids = await self.ledger.record_backfill(task.orderbook, fills, skips, end)
        done = replace(task, done_through=end)
        if done.complete:
            self.held_back.pop(task.orderbook, None)
        self._signal_skips(skips, first, end)
        self.observer(
            OrderbookBackfilled(
                task.orderbook, first, end, task.first_block, task.through_block, tuple(new_ids), tuple(skips)
            )
        )
        await self._new_fills(fills, new_ids)
        return done

    def _signal_skips(self, skips: list[SkippedFill], first: int, last: int) -> None:
        if skips:
            self.observer(
                IntakeAlert(
                    AlertKind.FILL_SKIPPED,
                    f"{len(skips)} fill(s) of our orders could not be decoded in blocks {first}..{last}",
                    {"skipped": [f"{s.trade_id} {s.reason}: {s.detail}" for s in skips]},
                )
            )

    async def _new_fills(self, fills: list[OnChainFill], new_ids: list[TradeId]) -> None:
        if new_ids and self.on_new_fills is not None:
            wanted = set(new_ids)
            await self.on_new_fills([fill for fill in fills if fill.trade_id in wanted])

    async def _write(
        self, fills: list[OnChainFill], skips: list[SkippedFill], end: BlockRef, first: int, last: int
    ) -> list[TradeId]:
        """One ledger transaction for a range (fills, skips, cursor := ``end``), then the signals."""
        try:
            new_ids = await self.ledger.record_range(fills, skips, end)
            if new_ids:  # let the hedges this commit placed go to the broker before intake's bookkeeping
                await asyncio.sleep(0)
        except BaseException:
            self.forget_cursor()
            raise
        self._signal_skips(skips, first, last)
        self.observer(RangeRecorded(first, end, tuple(new_ids), tuple(skips)))
        await self._new_fills(fills, new_ids)
        return new_ids

    async def _decode(
        self, logs: list[RawLog], *, backfill: bool = False
    ) -> tuple[list[OnChainFill], list[SkippedFill]]:
        if self.held_back and not backfill:  # an added book's history is its backfill's alone
            held = self.held_back
            logs = [log for log in logs if log.block_number > held.get(log.address, -1)]
        sides, skips = extract_sides(logs, self.decode)
        facts = await self.tokens.facts(tokens_needed(sides)) if sides else {}
        fills: list[OnChainFill] = []
        for side in sides:
            result = build_fill(side, facts, self.decode)
            if isinstance(result, OnChainFill):
                fills.append(result)
            else:
                skips.append(result)
        fills, unwrap_skips = await self.unwrapper.unwrap(fills)
        return fills, skips + unwrap_skips

    async def _with_timestamps(self, logs: list[RawLog]) -> list[RawLog]:
        """Nodes that omit ``blockTimestamp`` in logs: read the headers of those blocks (one batch)."""
        stamps = {n: self._window[n][1] for n in {log.block_number for log in logs} if n in self._window}
        missing = sorted({log.block_number for log in logs if log.block_timestamp is None} - stamps.keys())
        headers = await self.client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing])
        for number, header in zip(missing, headers, strict=True):
            if not isinstance(header, Mapping):
                raise RpcTransportError("eth_getBlockByNumber", f"block {number} header unavailable: {header!r:.100}")
            stamps[number] = int(str(header["timestamp"]), 16)
        return [log if log.block_timestamp is not None else replace(log, block_timestamp=stamps[log.block_number])
                for log in logs]  # fmt: skip

    async def _cursor_still_canonical(self, cursor: BlockRef) -> bool:
        block = await self.client.call("eth_getBlockByNumber", [hex(cursor.number), False])
        return _block_ref(block) == cursor

    async def _rewind_from(self, cursor: BlockRef, detected_at: int) -> None:
        """The cursor's block is no longer canonical: find the newest checkpoint that still is, rewind."""
        checkpoints = await self.ledger.checkpoints(self.checkpoint_limit)
        blocks: list[Any] = (
            await self.client.batch([("eth_getBlockByNumber", [hex(cp.number), False]) for cp in checkpoints])
            if checkpoints
            else []
        )
        fork: BlockRef | None = None
        for checkpoint, block in zip(checkpoints, blocks, strict=True):
            if not isinstance(block, RpcResponseError) and _block_ref(block) == checkpoint:
                fork = checkpoint
                break
        if fork is None:
            self.observer(
                IntakeAlert(
                    AlertKind.REORG_BEYOND_CHECKPOINTS,
                    f"no recorded checkpoint (of {len(checkpoints)}) is still canonical: re-reading from the "
                    f"deployment block {self.deployment_block}",
                    {"cursor": cursor.number},
                )
            )
        depth = cursor.number - (fork.number if fork is not None else self.deployment_block - 1)
        try:
            retracted = await self.ledger.rewind(fork, reorg_depth=depth, detected_at_block=detected_at)
        except BaseException:
            self.forget_cursor()
            raise
        self._cursor = self._verified = fork
        self._recorded.clear()
        self._notified_keys.clear()
        self._window.clear()
        self._seen.clear()
        self.observer(
            IntakeAlert(
                AlertKind.REORG,
                f"reorg: block {cursor.number} {cursor.hash} is gone; rewound to "
                f"{fork.number if fork else 'the deployment block'}, retracted {len(retracted)} fill(s)",
                {"depth": depth, "retracted": [str(t) for t in retracted]},
            )
        )
        self.observer(ReorgHandled(cursor, fork, tuple(retracted), detected_at))
