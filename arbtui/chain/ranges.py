"""One pass of reconciliation: from the ledger's cursor to a target block, in bounded chunks.

Each chunk is one batched JSON-RPC request (one answering node): ``eth_getBlockByNumber(cursor)`` on the
first chunk (reorg check), ``eth_getLogs(first..end)`` and ``eth_getBlockByNumber(end)``. The range is
recorded — fills, skips and cursor := end in one ledger transaction — only if that same node knows
``end`` (lesson 16: an empty answer from a lagging node is not "no events"). Up to
``max_inflight_chunks`` requests are in flight ahead of the recorder; recording stays in order.

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
from typing import TYPE_CHECKING, Any

from arbtui.chain.decode import (
    INTAKE_TOPICS,
    DecodeConfig,
    RawLog,
    build_fill,
    clears_complete,
    extract_sides,
    tokens_needed,
)
from arbtui.chain.rpc import JsonRpcClient, RpcResponseError, RpcTransportError
from arbtui.chain.signals import (
    AlertKind,
    BackfillProgress,
    IntakeAlert,
    IntakeObserver,
    RangeRecorded,
    ReorgHandled,
)
from arbtui.chain.tokens import TokenCache
from arbtui.domain.onchain_trade import OnChainFill, SkippedFill
from arbtui.domain.values import BlockRef, TradeId

if TYPE_CHECKING:
    from arbtui.chain.intake import FillLedger


MAX_UNVERIFIED = 32
"""Blocks recorded from notifications and not yet read back, at most (and ranges re-read at start)."""


class PassOutcome(StrEnum):
    """Why a pass stopped before its target (or that it reached it)."""

    DONE = "done"
    REORG = "reorg"
    NODE_BEHIND = "node_behind"
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


@dataclass(frozen=True)
class _Answer:
    chunk: _Chunk
    cursor_block: object
    logs: object
    end_block: object


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
        self.on_new_fills = on_new_fills
        self._loaded = False
        self._cursor: BlockRef | None = None
        self._verified: BlockRef | None = None
        self._recorded: dict[int, BlockRef] = {}
        """Recorded range ends above the verified cursor, by number: what a range read must find again."""
        self._notified_keys: set[tuple[str, str, int]] = set()
        """(block hash, tx hash, log index) of logs recorded from notifications and not yet read back."""
        self.notified_blocks = 0
        """Blocks recorded straight from notifications (tests assert that the path really ran)."""

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
        start = first
        while start <= target:
            end = min(target, start + self.chunk_blocks - 1)
            chunks.append(_Chunk(start, end, verified if start == first else None))
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
        log_filter = {
            "address": self.decode.orderbook,
            "topics": [list(INTAKE_TOPICS)],
            "fromBlock": hex(chunk.first),
            "toBlock": hex(chunk.end),
        }
        calls: list[tuple[str, list[object]]] = [
            ("eth_getLogs", [log_filter]),
            ("eth_getBlockByNumber", [hex(chunk.end), False]),
        ]
        if chunk.check_cursor is not None:
            calls.append(("eth_getBlockByNumber", [hex(chunk.check_cursor.number), False]))
        answers = await self.client.batch(calls)
        for answer in answers[1:]:
            if isinstance(answer, RpcResponseError):
                raise RpcTransportError(answer.method, f"block {chunk.first}..{chunk.end}: {answer}")
        cursor_block = answers[2] if chunk.check_cursor is not None else None
        return _Answer(chunk, cursor_block, answers[0], answers[1])

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
        end_ref = _block_ref(answer.end_block)
        if end_ref is None or end_ref.number != chunk.end:
            self.observer(
                IntakeAlert(
                    AlertKind.NODE_BEHIND,
                    f"node does not know block {chunk.end} yet: its log answer is not trusted, retrying later",
                    {
                        "first": chunk.first,
                        "end": chunk.end,
                        "logs": len(answer.logs) if isinstance(answer.logs, list) else None,
                    },
                )
            )
            return PassOutcome.NODE_BEHIND, 0
        if not isinstance(answer.logs, list):
            raise RpcTransportError("eth_getLogs", f"block {chunk.first}..{chunk.end}: answer is not a list")
        logs = [RawLog.from_rpc(item) for item in answer.logs]
        if any(log.block_number == end_ref.number and log.block_hash != end_ref.hash for log in logs):
            return PassOutcome.REORG, 0  # the chain moved between the two reads: the next pass re-checks
        cursor = self._cursor
        if cursor is not None and self._conflicts(end_ref, logs):
            await self._rewind_from(cursor, target)  # a block recorded above the verified cursor is gone
            return PassOutcome.REORG, 0
        if self._recorded.get(end_ref.number) == end_ref and all(_key(log) in self._notified_keys for log in logs):
            # read back exactly what was recorded from notifications: nothing to write
            self._advance(end_ref, verified=True)
            return PassOutcome.DONE, 0
        logs = await self._with_timestamps(logs)
        fills, skips = await self._decode(logs)
        new_ids = await self._write(fills, skips, end_ref, chunk.first, chunk.end)
        self._advance(end_ref, verified=True)
        return PassOutcome.DONE, len(new_ids)

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
            and log.address == self.decode.orderbook
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
        if skips:
            self.observer(
                IntakeAlert(
                    AlertKind.FILL_SKIPPED,
                    f"{len(skips)} fill(s) of our orders could not be decoded in blocks {first}..{last}",
                    {"skipped": [f"{s.trade_id} {s.reason}: {s.detail}" for s in skips]},
                )
            )
        self.observer(RangeRecorded(first, end, tuple(new_ids), tuple(skips)))
        if new_ids and self.on_new_fills is not None:
            wanted = set(new_ids)
            await self.on_new_fills([fill for fill in fills if fill.trade_id in wanted])
        return new_ids

    async def _decode(self, logs: list[RawLog]) -> tuple[list[OnChainFill], list[SkippedFill]]:
        sides, skips = extract_sides(logs, self.decode)
        facts = await self.tokens.facts(tokens_needed(sides)) if sides else {}
        fills: list[OnChainFill] = []
        for side in sides:
            result = build_fill(side, facts, self.decode)
            if isinstance(result, OnChainFill):
                fills.append(result)
            else:
                skips.append(result)
        return fills, skips

    async def _with_timestamps(self, logs: list[RawLog]) -> list[RawLog]:
        """Nodes that omit ``blockTimestamp`` in logs: read the headers of those blocks (one batch)."""
        missing = sorted({log.block_number for log in logs if log.block_timestamp is None})
        if not missing:
            return logs
        headers = await self.client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing])
        stamps: dict[int, int] = {}
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
        self.observer(
            IntakeAlert(
                AlertKind.REORG,
                f"reorg: block {cursor.number} {cursor.hash} is gone; rewound to "
                f"{fork.number if fork else 'the deployment block'}, retracted {len(retracted)} fill(s)",
                {"depth": depth, "retracted": [str(t) for t in retracted]},
            )
        )
        self.observer(ReorgHandled(cursor, fork, tuple(retracted), detected_at))
