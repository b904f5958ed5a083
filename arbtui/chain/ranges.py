"""One pass of reconciliation: from the ledger's cursor to a target block, in bounded chunks.

Each chunk is one batched JSON-RPC request (one answering node): ``eth_getBlockByNumber(cursor)`` on the
first chunk (reorg check), ``eth_getLogs(first..end)`` and ``eth_getBlockByNumber(end)``. The range is
recorded — fills, skips and cursor := end in one ledger transaction — only if that same node knows
``end`` (lesson 16: an empty answer from a lagging node is not "no events"). Up to
``max_inflight_chunks`` requests are in flight ahead of the recorder; recording stays in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from arbtui.chain.decode import INTAKE_TOPICS, DecodeConfig, RawLog, build_fill, extract_sides, tokens_needed
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
from arbtui.domain.values import BlockRef

if TYPE_CHECKING:
    from arbtui.chain.intake import FillLedger


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

    async def run_pass(self, target: int, *, report_progress: bool = False) -> PassResult:
        """Record everything from the cursor through ``target`` (or stop early and say why)."""
        cursor = await self.ledger.cursor()
        first = cursor.number + 1 if cursor is not None else self.deployment_block
        if target < first:
            if cursor is not None and not await self._cursor_still_canonical(cursor):
                await self._rewind_from(cursor, target)
                return PassResult(PassOutcome.REORG, None, 0)
            return PassResult(PassOutcome.DONE, cursor.number if cursor else None, 0)
        chunks: deque[_Chunk] = deque()
        start = first
        while start <= target:
            end = min(target, start + self.chunk_blocks - 1)
            chunks.append(_Chunk(start, end, cursor if start == first else None))
            start = end + 1
        inflight: deque[asyncio.Task[_Answer]] = deque()
        new_total = 0
        recorded_through: int | None = cursor.number if cursor else None
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
                await self._rewind_from(chunk.check_cursor, target)
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
        logs = await self._with_timestamps(logs)
        fills, skips = await self._decode(logs)
        new_ids = await self.ledger.record_range(fills, skips, end_ref)
        if skips:
            self.observer(
                IntakeAlert(
                    AlertKind.FILL_SKIPPED,
                    f"{len(skips)} fill(s) of our orders could not be decoded in blocks {chunk.first}..{chunk.end}",
                    {"skipped": [f"{s.trade_id} {s.reason}: {s.detail}" for s in skips]},
                )
            )
        self.observer(RangeRecorded(chunk.first, end_ref, tuple(new_ids), tuple(skips)))
        if new_ids and self.on_new_fills is not None:
            wanted = set(new_ids)
            await self.on_new_fills([fill for fill in fills if fill.trade_id in wanted])
        return PassOutcome.DONE, len(new_ids)

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
        retracted = await self.ledger.rewind(fork, reorg_depth=depth, detected_at_block=detected_at)
        self.observer(
            IntakeAlert(
                AlertKind.REORG,
                f"reorg: block {cursor.number} {cursor.hash} is gone; rewound to "
                f"{fork.number if fork else 'the deployment block'}, retracted {len(retracted)} fill(s)",
                {"depth": depth, "retracted": [str(t) for t in retracted]},
            )
        )
        self.observer(ReorgHandled(cursor, fork, tuple(retracted), detected_at))
